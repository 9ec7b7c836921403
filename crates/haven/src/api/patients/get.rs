//! `GET /api/patients/{id}`.

use axum::extract::State;

use super::codec::{PatientResponse, to_patient};
use super::lookup::open_visible;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::PatientId;

/// Read one patient.
///
/// ADMIN and BILLING for every patient of the practice, a CLINICIAN for the patients on their
/// care team, anyone with an active emergency (break-the-glass) grant for the patient.
/// BILLING sees the name, date of birth and MRN only (the other fields are absent). COMPLIANCE
/// may not (403). A patient of another practice, or one the caller may not see, answers 404
/// and is audited (`CROSS_TENANT_ACCESS_ATTEMPT` or `ACCESS_DENIED`). Every read is audited as
/// `PATIENT_READ`, committed before the PHI leaves.
#[utoipa::path(
    get,
    path = "/{id}",
    tag = "patients",
    params(("id" = Uuid, Path, description = "The patient's id")),
    responses((status = 200, description = "The patient, as much as the caller may see", body = PatientResponse)),
)]
pub async fn get_patient(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<PatientId>,
) -> Result<AppJson<PatientResponse>, AppError> {
    let (mut tx, found) = open_visible(&state, &caller, &meta, id, "get_patient").await?;
    let access = *found.access();
    let patient = to_patient(&state, &mut tx, found.row(), access.view).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::PatientRead)
            .by(caller.actor())
            .with_access_method(access.method)
            .with_entity("patient", id)
            .with_patient(id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(PatientResponse { patient }))
}
