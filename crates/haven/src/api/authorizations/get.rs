//! `GET /api/authorizations/{id}`.

use axum::extract::State;

use super::codec::{AuthorizationResponse, to_authorization};
use super::lookup::find_visible;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::AuthorizationId;
use crate::policy::Denial;
use crate::policy::units as policy;

/// Read one authorization.
///
/// ADMIN and BILLING for every patient of the practice, a CLINICIAN for the patients on their
/// care team, anyone with an active emergency (break-the-glass) grant for the patient;
/// COMPLIANCE may not (403). One of another practice, or of a patient the caller may not see,
/// answers 404 and is audited (`CROSS_TENANT_ACCESS_ATTEMPT` or `ACCESS_DENIED`). An
/// authorization is part of the patient's record (its member id is PHI): the read is audited
/// as `PATIENT_READ` of the authorization, committed before the response leaves.
#[utoipa::path(
    get,
    path = "/{id}",
    tag = "authorizations",
    params(("id" = Uuid, Path, description = "The authorization's id")),
    responses((status = 200, description = "The authorization", body = AuthorizationResponse)),
)]
pub async fn get_authorization(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<AuthorizationId>,
) -> Result<AppJson<AuthorizationResponse>, AppError> {
    let may = policy::use_units(&caller, "get_authorization").map_err(|_| {
        Denial::forbidden_on(&caller, "get_authorization", "authorization", id, None)
    })?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let found = find_visible(&state, &mut tx, &caller, &meta, &may, id).await?;
    let (row, access) = (found.row(), found.access());
    let authorization = to_authorization(
        &state,
        &mut tx,
        row,
        crate::policy::units::sees_member_ids(&caller),
    )
    .await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::PatientRead)
            .by(caller.actor())
            .with_access_method(access.method)
            .with_entity("authorization", id)
            .with_patient(row.patient_id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(AuthorizationResponse { authorization }))
}
