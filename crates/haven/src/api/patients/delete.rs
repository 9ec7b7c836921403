//! `DELETE /api/patients/{id}` (ADMIN): a soft delete; the record stays, hidden.

use axum::extract::State;
use axum::http::StatusCode;

use super::lookup::open_visible;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::PatientId;
use crate::policy::patients as policy;
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
    AppPath(id): AppPath<PatientId>,
) -> Result<StatusCode, AppError> {
    let may = policy::manage(&caller, "delete_patient", Some(id))?;
    let (mut tx, patient) = open_visible(&state, &caller, &meta, id, "delete_patient").await?;
    patients::soft_delete(&mut tx, &may, &patient).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::PatientDelete)
            .by(caller.actor())
            .with_access_method(patient.access().method)
            .with_entity("patient", id)
            .with_patient(id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
