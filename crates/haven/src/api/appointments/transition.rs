//! `POST /api/appointments/{id}/confirm|check-in|cancel|no-show`: status changes, moving the
//! units of the appointment's session through the ledger.

use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::AppointmentOutcome;
use super::lookup::find_visible;
use super::units::session_event;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, RequestMeta};
use crate::auth::caller::Caller;
use crate::domain::parse_name;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::AppointmentId;
use crate::policy::appointments as policy;
use crate::scheduling::ScheduleError;
use crate::scheduling::auto_offer;
use crate::store::appointments::{self, AppointmentRow};
use crate::store::sessions_units;
use crate::store::waitlist::Slot;
use crate::units::SessionStatus;
use crate::units::ledger;

/// A status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Confirm,
    CheckIn,
    Cancel,
    NoShow,
}

impl Change {
    fn operation(self) -> &'static str {
        match self {
            Self::Confirm => "confirm_appointment",
            Self::CheckIn => "check_in_appointment",
            Self::Cancel => "cancel_appointment",
            Self::NoShow => "no_show_appointment",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Confirm => "confirm",
            Self::CheckIn => "check in",
            Self::Cancel => "cancel",
            Self::NoShow => "mark as no-show",
        }
    }

    fn from(self) -> &'static [&'static str] {
        match self {
            Self::Confirm => &["HELD"],
            Self::CheckIn => &["BOOKED"],
            Self::Cancel => &["HELD", "BOOKED", "CHECKED_IN"],
            Self::NoShow => &["BOOKED", "CHECKED_IN"],
        }
    }

    fn to(self) -> &'static str {
        match self {
            Self::Confirm => "BOOKED",
            Self::CheckIn => "CHECKED_IN",
            Self::Cancel => "CANCELLED",
            Self::NoShow => "NO_SHOW",
        }
    }

    fn action(self) -> AuditAction {
        match self {
            Self::Confirm => AuditAction::AppointmentConfirm,
            Self::CheckIn => AuditAction::AppointmentCheckIn,
            Self::Cancel => AuditAction::AppointmentCancel,
            Self::NoShow => AuditAction::AppointmentNoShow,
        }
    }
}

/// The time a cancelled appointment frees.
fn freed(row: &AppointmentRow) -> Slot {
    Slot {
        clinician_id: row.clinician_id,
        start: row.start_at,
        end: row.end_at,
        service_code: row.service_code.clone(),
    }
}

async fn change(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    id: AppointmentId,
    change: Change,
    reason: Option<&str>,
) -> Result<AppointmentOutcome, AppError> {
    let may = policy::schedule_on(caller, change.operation(), id)?;
    let use_patients = may.patient_use();
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let appointment = find_visible(state, &mut tx, caller, meta, &use_patients, id, true).await?;
    let row: &AppointmentRow = appointment.row();
    policy::book_with(&may, caller, change.operation(), row.clinician_id)?;
    if !change.from().contains(&row.status.as_str()) {
        return Err(ScheduleError::InvalidState {
            status: row.status.clone(),
            action: change.verb(),
        }
        .into());
    }
    if change == Change::Confirm && row.hold_expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ScheduleError::HoldExpired.into());
    }
    let method = appointment.access().method;
    let patient = appointment.patient_id();
    let mut remaining = None;
    if let Some(session_id) = row.session_id {
        let Some(session) = sessions_units::lock(&mut tx, &use_patients, session_id).await? else {
            return Err(AppError::Internal(anyhow::anyhow!(
                "the appointment's session is gone"
            )));
        };
        let session = appointment.carry(session).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "the appointment's session is another patient's"
            ))
        })?;
        let open = SessionStatus::parse(&session.row().status).is_some_and(SessionStatus::is_open);
        let moved = match change {
            Change::Confirm => None,
            // A session released elsewhere (its own cancel, the stale cleanup) holds nothing.
            Change::Cancel | Change::NoShow if !open => None,
            Change::CheckIn => Some((
                AuditAction::SessionStart,
                ledger::start(&mut tx, &session).await?,
            )),
            Change::Cancel | Change::NoShow => {
                let why = if change == Change::NoShow {
                    "appointment no-show"
                } else {
                    "appointment cancelled"
                };
                Some((
                    AuditAction::SessionCancel,
                    ledger::cancel(&mut tx, &session, why, Some(caller.user_id)).await?,
                ))
            }
        };
        match moved {
            Some((action, Ok(outcome))) => {
                let left = outcome.balance.available_units();
                remaining = Some(left);
                audit::record(
                    &mut tx,
                    &session_event(action, caller, method, session_id, patient, left, meta),
                )
                .await?;
            }
            Some((_, Err(refusal))) => return Err(refusal.into()),
            None => {
                let balance =
                    crate::store::authorizations::balance(&mut tx, session.row().authorization_id)
                        .await?;
                remaining = Some(balance.available_units());
            }
        }
    }
    let updated = appointments::set_status(&mut tx, id, change.to(), reason).await?;
    if change == Change::Cancel {
        // The practice may want the freed time offered to the waitlist (`waitlistAutoOffer`).
        auto_offer::offer_next(&mut tx, &freed(&updated), "appointment_cancelled").await?;
    }
    audit::record(
        &mut tx,
        &AuditEvent::new(change.action())
            .by(caller.actor())
            .with_access_method(method)
            .with_entity("appointment", id)
            .with_patient(patient)
            .with_details(json!({ "from": row.status, "to": updated.status }))
            .with_request(meta),
    )
    .await?;
    let outcome = AppointmentOutcome::new(&updated, remaining)?;
    tx.commit().await?;
    Ok(outcome)
}

/// Confirm a hold
///
/// HELD → BOOKED, before `holdExpiresAt` (after it: 409 `HOLD_EXPIRED`, even if the expiry
/// job has not run yet). Audited `APPOINTMENT_CONFIRM`.
#[utoipa::path(
    post,
    path = "/{id}/confirm",
    tag = "appointments",
    params(("id" = Uuid, Path, description = "The appointment's id")),
    responses(
        (status = 200, description = "Booked", body = AppointmentOutcome),
        (status = 409, description = "Not HELD (`INVALID_STATE`) or the hold expired (`HOLD_EXPIRED`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn confirm_appointment(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<AppointmentId>,
) -> Result<AppJson<AppointmentOutcome>, AppError> {
    change(&state, &caller, &meta, id, Change::Confirm, None)
        .await
        .map(AppJson)
}

/// Check a patient in
///
/// BOOKED → CHECKED_IN; the appointment's session starts (IN_PROGRESS). Audited
/// `APPOINTMENT_CHECK_IN` (and `SESSION_START`).
#[utoipa::path(
    post,
    path = "/{id}/check-in",
    tag = "appointments",
    params(("id" = Uuid, Path, description = "The appointment's id")),
    responses(
        (status = 200, description = "Checked in", body = AppointmentOutcome),
        (status = 409, description = "Not BOOKED (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn check_in_appointment(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<AppointmentId>,
) -> Result<AppJson<AppointmentOutcome>, AppError> {
    change(&state, &caller, &meta, id, Change::CheckIn, None)
        .await
        .map(AppJson)
}

/// The request body of a cancellation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CancelAppointment {
    /// Why: 1–500 characters.
    #[schema(min_length = 1, max_length = 500, example = "Patient is ill")]
    reason: String,
}

/// Cancel an appointment
///
/// HELD, BOOKED or CHECKED_IN → CANCELLED; its session is cancelled and the units released.
/// Audited `APPOINTMENT_CANCEL` (and `SESSION_CANCEL`).
#[utoipa::path(
    post,
    path = "/{id}/cancel",
    tag = "appointments",
    params(("id" = Uuid, Path, description = "The appointment's id")),
    request_body = CancelAppointment,
    responses(
        (status = 200, description = "Cancelled", body = AppointmentOutcome),
        (status = 409, description = "Already over (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn cancel_appointment(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<AppointmentId>,
    AppJson(body): AppJson<CancelAppointment>,
) -> Result<AppJson<AppointmentOutcome>, AppError> {
    let reason = parse_name(&body.reason, 500).map_err(|e| AppError::invalid_field("reason", e))?;
    change(&state, &caller, &meta, id, Change::Cancel, Some(&reason))
        .await
        .map(AppJson)
}

/// Mark a no-show
///
/// BOOKED or CHECKED_IN → NO_SHOW; its session is cancelled and the units released. Audited
/// `APPOINTMENT_NO_SHOW` (and `SESSION_CANCEL`).
#[utoipa::path(
    post,
    path = "/{id}/no-show",
    tag = "appointments",
    params(("id" = Uuid, Path, description = "The appointment's id")),
    responses(
        (status = 200, description = "Marked", body = AppointmentOutcome),
        (status = 409, description = "Not BOOKED or CHECKED_IN (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn no_show_appointment(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<AppointmentId>,
) -> Result<AppJson<AppointmentOutcome>, AppError> {
    change(&state, &caller, &meta, id, Change::NoShow, None)
        .await
        .map(AppJson)
}
