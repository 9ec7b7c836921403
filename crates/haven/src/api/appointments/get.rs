//! `GET /api/appointments/{id}`.

use axum::extract::State;

use super::codec::{Appointment, AppointmentResponse};
use super::lookup::find_visible;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::AppointmentId;
use crate::policy::appointments as policy;

/// Get an appointment
///
/// ADMIN, SCHEDULER, and a CLINICIAN for patients on their care team. Audited
/// `APPOINTMENT_READ` (committed before the response leaves). Another practice's appointment
/// is a 404 (audited).
#[utoipa::path(
    get,
    path = "/{id}",
    tag = "appointments",
    params(("id" = Uuid, Path, description = "The appointment's id")),
    responses((status = 200, description = "The appointment", body = AppointmentResponse)),
)]
pub async fn get_appointment(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<AppointmentId>,
) -> Result<AppJson<AppointmentResponse>, AppError> {
    let may = policy::schedule_on(&caller, "get_appointment", id)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let row = find_visible(
        &state,
        &mut tx,
        &caller,
        &meta,
        &may.patient_use(),
        id,
        false,
    )
    .await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::AppointmentRead)
            .by(caller.actor())
            .with_access_method(row.access().method)
            .with_entity("appointment", id)
            .with_patient(row.patient_id())
            .with_request(&meta),
    )
    .await?;
    let appointment = Appointment::new(row.row())?;
    tx.commit().await?;
    Ok(AppJson(AppointmentResponse { appointment }))
}
