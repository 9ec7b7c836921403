//! `DELETE /api/patients/{id}` (ADMIN): a soft delete; the record stays, hidden.

use axum::extract::State;
use axum::http::StatusCode;
use uuid::Uuid;

use super::lookup::{open_visible, refuse};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::policy;
use crate::store::patients;

/// Delete a patient (soft delete).
///
/// ADMIN only. The record stays in the database, hidden from every read and list; its MRN stays
/// taken. Audited as `PATIENT_DELETE`.
#[utoipa::path(
    delete,
    path = "/{id}",
    tag = "patients",
    params(("id" = Uuid, Path, description = "The patient's id")),
    responses((status = 204, description = "Deleted")),
)]
pub async fn delete_patient(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, AppError> {
    if !policy::may_manage_patients(&caller) {
        return Err(refuse(&state, &caller, &meta, "delete_patient", Some(id)).await);
    }
    let (mut tx, _, access) = open_visible(&state, &caller, &meta, id, "delete_patient").await?;
    patients::soft_delete(&mut tx, id).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::PatientDelete)
            .with_actor(caller.user_id, caller.role)
            .with_access_method(access.method)
            .with_entity("patient", id)
            .with_patient(id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
