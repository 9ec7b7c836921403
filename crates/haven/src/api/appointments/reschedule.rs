//! `POST /api/appointments/{id}/reschedule`.

use axum::extract::State;
use chrono::Duration;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::AppointmentOutcome;
use super::lookup::{find_visible, retryable};
use super::units::{self, Slot, Units, session_event};
use crate::api::clinicians::lookup::active_clinician;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, RequestMeta};
use crate::auth::caller::Caller;
use crate::domain::parse_instant;
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::{AppointmentId, UserId};
use crate::policy::appointments as policy;
use crate::scheduling::ScheduleError;
use crate::scheduling::booking::{self, MAX_ATTEMPTS};
use crate::scheduling::check_start_grid;
use crate::scheduling::holds;
use crate::store::appointments::{self, Move};
use crate::store::sessions_units;
use crate::units::ledger;

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RescheduleAppointment {
    /// The new start: an RFC 3339 timestamp.
    #[schema(format = DateTime, example = "2027-03-16T14:00:00Z")]
    start: String,
    /// The new duration, 15–480 minutes (default: unchanged).
    #[schema(minimum = 15, maximum = 480)]
    duration_minutes: Option<i64>,
    /// Another clinician (default: unchanged).
    clinician_id: Option<UserId>,
    /// The `version` the client read; another one answers 409 `CONFLICT`.
    expected_version: i32,
    /// Move it even outside the clinician's availability (ADMIN, SCHEDULER; audited
    /// `AVAILABILITY_OVERRIDE`).
    #[serde(default)]
    override_availability: bool,
}

/// Reschedule an appointment
///
/// Moves a HELD or BOOKED appointment, in one UPDATE re-checked by the exclusion constraints
/// (409 `SCHEDULE_CONFLICT`). The units move through the ledger: the old session is cancelled
/// (RELEASE) and a new one reserved at the new time (RESERVE), for the new duration. A stale
/// `expectedVersion` answers 409 `CONFLICT`. Audited `APPOINTMENT_RESCHEDULE`.
#[utoipa::path(
    post,
    path = "/{id}/reschedule",
    tag = "appointments",
    params(("id" = Uuid, Path, description = "The appointment's id")),
    request_body = RescheduleAppointment,
    responses(
        (status = 200, description = "Moved", body = AppointmentOutcome),
        (status = 409, description = "`SCHEDULE_CONFLICT`, `OUTSIDE_AVAILABILITY`, a stale version (`CONFLICT`), not HELD or BOOKED (`INVALID_STATE`), or units that do not fit", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn reschedule_appointment(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<AppointmentId>,
    AppJson(body): AppJson<RescheduleAppointment>,
) -> Result<AppJson<AppointmentOutcome>, AppError> {
    let mut details = Details::new();
    let start = parse_instant(&body.start)
        .and_then(|start| check_start_grid(start).map(|()| start))
        .map_err(|e| details.insert("start".into(), e))
        .ok();
    if body
        .duration_minutes
        .is_some_and(|d| !(15..=480).contains(&d))
    {
        details.insert("durationMinutes".into(), "must be 15 to 480".into());
    }
    let Some(start) = start.filter(|_| details.is_empty()) else {
        return Err(AppError::validation("The reschedule is not valid", details));
    };
    let mut attempt = 1;
    loop {
        match attempt_move(&state, &caller, &meta, id, &body, start).await {
            Err(error) if attempt < MAX_ATTEMPTS && retryable(&error) => attempt += 1,
            result => return result.map(AppJson),
        }
    }
}

async fn attempt_move(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    id: AppointmentId,
    body: &RescheduleAppointment,
    start: chrono::DateTime<chrono::Utc>,
) -> Result<AppointmentOutcome, AppError> {
    let op = "reschedule_appointment";
    let may = policy::schedule_on(caller, op, id)?;
    if body.override_availability {
        policy::override_availability(&may, caller, op)?;
    }
    let use_patients = may.patient_use();
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let appointment = find_visible(state, &mut tx, caller, meta, &use_patients, id, true).await?;
    let row = appointment.row().clone();
    policy::book_with(&may, caller, op, row.clinician_id)?;
    let clinician = body.clinician_id.unwrap_or(row.clinician_id);
    if clinician != row.clinician_id {
        policy::book_with(&may, caller, op, clinician)?;
        active_clinician(&mut tx, caller, clinician).await?;
    }
    if !["HELD", "BOOKED"].contains(&row.status.as_str()) {
        return Err(ScheduleError::InvalidState {
            status: row.status,
            action: "reschedule",
        }
        .into());
    }
    if row
        .hold_expires_at
        .is_some_and(|at| at <= chrono::Utc::now())
    {
        return Err(ScheduleError::HoldExpired.into());
    }
    if row.version != body.expected_version {
        return Err(ScheduleError::StaleVersion.into());
    }
    let minutes = body
        .duration_minutes
        .unwrap_or_else(|| (row.end_at - row.start_at).num_minutes());
    let end = start + Duration::minutes(minutes);
    booking::lock(&mut tx, &[row.clinician_id, clinician], row.patient_id).await?;
    holds::expire_at_use(&mut tx, clinician, row.patient_id).await?;
    let within =
        appointments::within_availability(&mut tx, clinician, start, end, &row.service_code)
            .await?;
    let overridden = !within && body.override_availability;
    booking::check_availability(
        &mut tx,
        clinician,
        start,
        end,
        &row.service_code,
        within || overridden,
    )
    .await?;
    let method = appointment.access().method;
    if overridden {
        audit::record(
            &mut tx,
            &AuditEvent::new(AuditAction::AvailabilityOverride)
                .by(caller.actor())
                .with_access_method(method)
                .with_entity("user", clinician)
                .with_patient(row.patient_id)
                .with_details(json!({ "start": start, "end": end, "appointmentId": id }))
                .with_request(meta),
        )
        .await?;
    }
    // Units: the old session gives its units back, a new one at the new time takes them.
    let mut session_id = None;
    let mut remaining = None;
    if let (Some(old), Some(authorization)) = (row.session_id, row.authorization_id) {
        let Some(session) = sessions_units::lock(&mut tx, &use_patients, old).await? else {
            return Err(AppError::Internal(anyhow::anyhow!(
                "the appointment's session is gone"
            )));
        };
        let session = appointment.carry(session).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "the appointment's session is another patient's"
            ))
        })?;
        let kept_units = (body.duration_minutes.is_none()).then_some(session.row().reserved_units);
        let released = ledger::cancel(
            &mut tx,
            &session,
            "appointment rescheduled",
            Some(caller.user_id),
        )
        .await?
        .map_err(AppError::from)?;
        audit::record(
            &mut tx,
            &session_event(
                AuditAction::SessionCancel,
                caller,
                method,
                old,
                row.patient_id,
                released.balance.available_units(),
                meta,
            ),
        )
        .await?;
        let reserved = units::reserve(
            &mut tx,
            caller,
            meta,
            &use_patients,
            &appointment,
            Units {
                authorization,
                expected: kept_units,
            },
            &Slot {
                clinician,
                start,
                minutes,
                service_code: &row.service_code,
            },
        )
        .await?;
        session_id = Some(reserved.session);
        remaining = Some(reserved.remaining);
    }
    let buffer_minutes = appointments::buffer_minutes(&mut tx, clinician).await?;
    let moved = appointments::reschedule(
        &mut tx,
        id,
        body.expected_version,
        &Move {
            start,
            end,
            clinician_id: clinician,
            buffer_minutes,
            session_id,
            overridden,
        },
    )
    .await
    .map_err(ScheduleError::from)?
    .ok_or(ScheduleError::StaleVersion)?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::AppointmentReschedule)
            .by(caller.actor())
            .with_access_method(method)
            .with_entity("appointment", id)
            .with_patient(row.patient_id)
            .with_details(json!({
                "from": { "start": row.start_at, "end": row.end_at, "clinicianId": row.clinician_id },
                "to": { "start": moved.start_at, "end": moved.end_at, "clinicianId": moved.clinician_id },
                "version": moved.version,
            }))
            .with_request(meta),
    )
    .await?;
    let outcome = AppointmentOutcome::new(&moved, remaining)?;
    tx.commit().await?;
    Ok(outcome)
}
