//! `GET /api/clinicians/{userId}/availability`.

use axum::extract::State;
use chrono::Utc;

use super::codec::AvailabilityResponse;
use super::lookup::active_clinician;
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::query::AppPath;
use crate::ids::UserId;
use crate::policy::appointments as policy;
use crate::store::availability;

/// Get a clinician's availability
///
/// The weekly rules, buffer, effective dates and the time off that has not ended yet;
/// `availability` is `null` when none was set. ADMIN, SCHEDULER and the clinician themself.
/// No PHI, not audited. A user of another practice is a 404 (audited).
#[utoipa::path(
    get,
    path = "/{userId}/availability",
    tag = "availability",
    params(("userId" = Uuid, Path, description = "The clinician's user id")),
    responses(
        (status = 200, description = "The availability", body = AvailabilityResponse),
        (status = 404, description = "No active clinician with this id in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn get_availability(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(clinician): AppPath<UserId>,
) -> Result<AppJson<AvailabilityResponse>, AppError> {
    let may = policy::manage_calendar(&caller, "get_availability", clinician)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    active_clinician(&mut tx, &caller, clinician).await?;
    let row = availability::find(&mut tx, &may).await?;
    let rules = availability::rules(&mut tx, &may).await?;
    let blocks = availability::blocks(&mut tx, &may, Utc::now()).await?;
    tx.commit().await?;
    Ok(AppJson(AvailabilityResponse::new(row, rules, blocks)))
}
