//! `GET /api/sessions/{id}`.

use axum::extract::State;

use super::codec::TherapySessionResponse;
use super::lookup::find_visible;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::TherapySessionId;
use crate::policy::units as policy;

/// One therapy session.
///
/// `GET /api/sessions/{id}` → `{session}`. ADMIN, BILLING and SUPER_ADMIN acting in a practice
/// see every session; a CLINICIAN only those of patients on their care team or under an active
/// emergency (break-the-glass) grant. A session the caller may not see answers 404 like one that
/// does not exist. Audited as `PATIENT_READ` of the session (dates of service are part of the
/// patient's record); a use of an emergency grant also as `BTG_USE_ACCESS`.
#[utoipa::path(
    get,
    path = "/{id}",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The session's id")),
    responses((status = 200, description = "The session", body = TherapySessionResponse)),
)]
pub async fn get_session(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<TherapySessionId>,
) -> Result<AppJson<TherapySessionResponse>, AppError> {
    let may = policy::use_session(&caller, "get_session", id)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let found = find_visible(&state, &mut tx, &caller, &meta, &may, id, false).await?;
    let (row, access) = (found.row(), found.access());
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::PatientRead)
            .by(caller.actor())
            .with_access_method(access.method)
            .with_entity("session", id)
            .with_patient(row.patient_id)
            .with_request(&meta),
    )
    .await?;
    let body = TherapySessionResponse::new(row)?;
    tx.commit().await?;
    Ok(AppJson(body))
}
