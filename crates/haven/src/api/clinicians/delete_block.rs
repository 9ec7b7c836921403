//! `DELETE /api/clinicians/{userId}/blocks/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use super::lookup::active_clinician;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::{BlockId, UserId};
use crate::policy::Denial;
use crate::policy::appointments as policy;
use crate::store::availability;

/// Remove time off
///
/// The clinician's block is removed (kept, inactive, for the record). ADMIN, SCHEDULER and the
/// clinician themself. Audited as `SCHEDULE_BLOCK_DELETE`. A block of another practice is a
/// 404 (audited).
#[utoipa::path(
    delete,
    path = "/{userId}/blocks/{id}",
    tag = "availability",
    params(
        ("userId" = Uuid, Path, description = "The clinician's user id"),
        ("id" = Uuid, Path, description = "The block's id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such active block of this clinician (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn delete_block(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath((clinician, id)): AppPath<(UserId, BlockId)>,
) -> Result<StatusCode, AppError> {
    let may = policy::manage_calendar(&caller, "delete_block", clinician)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    active_clinician(&mut tx, &caller, clinician).await?;
    let Some(row) = availability::remove_block(&mut tx, &may, id).await? else {
        let owner = availability::entry_organization(&mut tx, id.as_uuid()).await?;
        return Err(Denial::not_found(&caller, "block", id, owner).into());
    };
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::ScheduleBlockDelete)
            .by(caller.actor())
            .with_access_method(may.method())
            .with_entity("block", row.id)
            .with_details(json!({ "clinicianId": clinician }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
