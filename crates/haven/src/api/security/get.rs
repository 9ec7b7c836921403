//! `GET /api/security/incidents/{id}`.

use axum::extract::State;

use super::codec::IncidentDetailResponse;
use super::lookup::find;
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::query::AppPath;
use crate::ids::IncidentId;
use crate::policy::security as policy;
use crate::store::incidents;

/// Get a security incident
///
/// The incident with its append-only history, oldest first. Another organization's incident
/// is a 404 (audited `CROSS_TENANT_ACCESS_ATTEMPT`).
#[utoipa::path(
    get,
    path = "/incidents/{id}",
    tag = "security",
    params(("id" = Uuid, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "The incident and its history", body = IncidentDetailResponse),
        (status = 403, description = "Not allowed (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such incident here (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn get_incident(
    State(state): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<IncidentId>,
) -> Result<AppJson<IncidentDetailResponse>, AppError> {
    let may = policy::read(&caller, "get_security_incident")?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let row = find(&mut tx, &caller, &may, id, false).await?;
    let events = incidents::history(&mut tx, &may, id).await?;
    tx.commit().await?;
    Ok(AppJson(IncidentDetailResponse {
        incident: row.into(),
        events: events.into_iter().map(Into::into).collect(),
    }))
}
