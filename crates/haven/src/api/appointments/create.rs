//! `POST /api/appointments`: book (or hold) an appointment, reserving units when an
//! authorization is named.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::AppointmentOutcome;
use super::lookup::retryable;
use super::units::{self, Slot, Units};
use crate::api::clinicians::lookup::active_clinician;
use crate::api::patients::lookup::find_visible as find_patient;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, RequestMeta};
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::domain::parse_instant;
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::ids::{AppointmentId, AuthorizationId, PatientId, UserId};
use crate::policy::Denial;
use crate::policy::appointments::{self as policy, Schedule};
use crate::scheduling::booking::{self, MAX_ATTEMPTS};
use crate::scheduling::check_start_grid;
use crate::scheduling::holds;
use crate::store::appointments::{self, ACTIVE, AppointmentRow, NewAppointment};
use crate::units::parse_service_code;

/// How long a hold may last, in minutes.
const MAX_HOLD_MINUTES: i64 = 60;

/// A hold instead of a booking.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HoldBody {
    /// Minutes the hold lasts (1–60); confirm it before then.
    #[schema(minimum = 1, maximum = 60)]
    ttl_minutes: i64,
}

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BookAppointment {
    /// The patient.
    patient_id: PatientId,
    /// The clinician: an active CLINICIAN of the practice (a CLINICIAN caller: themself).
    clinician_id: UserId,
    /// Start: an RFC 3339 timestamp.
    #[schema(format = DateTime, example = "2027-03-15T13:00:00Z")]
    start: String,
    /// 15–480 minutes.
    #[schema(minimum = 15, maximum = 480)]
    duration_minutes: i64,
    /// The service: a CPT/HCPCS-like code (`97153`).
    #[schema(example = "97153")]
    service_code: String,
    /// Reserve units of this authorization (of the same patient and service) in the same
    /// transaction.
    authorization_id: Option<AuthorizationId>,
    /// Units to reserve (1–1440); default: the duration in the authorization's units,
    /// rounded up.
    #[schema(minimum = 1, maximum = 1440)]
    expected_units: Option<i64>,
    /// An active appointment of the same patient this one may overlap (a supervising BCBA's
    /// 97155 beside a technician's 97153).
    concurrent_with_appointment_id: Option<AppointmentId>,
    /// Hold the time instead of booking it.
    hold: Option<HoldBody>,
    /// Book even outside the clinician's availability (ADMIN, SCHEDULER; audited
    /// `AVAILABILITY_OVERRIDE`).
    #[serde(default)]
    override_availability: bool,
}

/// The checked request.
struct Request {
    start: DateTime<Utc>,
    minutes: i64,
    service_code: String,
    units: Option<Units>,
    hold_until: Option<DateTime<Utc>>,
}

fn check(body: &BookAppointment) -> Result<Request, AppError> {
    let mut details = Details::new();
    let start = parse_instant(&body.start)
        .and_then(|start| check_start_grid(start).map(|()| start))
        .map_err(|e| details.insert("start".into(), e))
        .ok();
    if !(15..=480).contains(&body.duration_minutes) {
        details.insert("durationMinutes".into(), "must be 15 to 480".into());
    }
    let code = parse_service_code(&body.service_code)
        .map_err(|e| details.insert("serviceCode".into(), e))
        .ok();
    let expected = match body.expected_units {
        Some(n) if (1..=1440).contains(&n) => i32::try_from(n).ok(),
        Some(_) => {
            details.insert("expectedUnits".into(), "must be 1 to 1440".into());
            None
        }
        None => None,
    };
    if body.expected_units.is_some() && body.authorization_id.is_none() {
        details.insert(
            "expectedUnits".into(),
            "needs an authorizationId to take the units from".into(),
        );
    }
    let ttl = body.hold.as_ref().map(|h| h.ttl_minutes);
    if ttl.is_some_and(|t| !(1..=MAX_HOLD_MINUTES).contains(&t)) {
        details.insert(
            "hold.ttlMinutes".into(),
            format!("must be 1 to {MAX_HOLD_MINUTES}"),
        );
    }
    match (start, code) {
        (Some(start), Some(service_code)) if details.is_empty() => Ok(Request {
            start,
            minutes: body.duration_minutes,
            service_code,
            units: body.authorization_id.map(|authorization| Units {
                authorization,
                expected,
            }),
            hold_until: ttl.map(|t| Utc::now() + Duration::minutes(t)),
        }),
        _ => Err(AppError::validation(
            "The appointment is not valid",
            details,
        )),
    }
}

/// Book an appointment
///
/// Books (or, with `hold`, holds until `holdExpiresAt`) the patient with the clinician. The
/// database refuses an overlap with the clinician's other active appointments and time off
/// (buffers included) or the patient's other active appointments: 409 `SCHEDULE_CONFLICT`
/// with `details.conflictWith` = `clinician` | `patient`. A time outside the clinician's
/// availability answers 409 `OUTSIDE_AVAILABILITY` unless an ADMIN or SCHEDULER sets
/// `overrideAvailability`. With `authorizationId`, the units are reserved in the same
/// transaction (the §5 session, `SESSION_RESERVE`). ADMIN, SCHEDULER, and a CLINICIAN on their
/// own calendar for patients on their care team. Audited `APPOINTMENT_BOOK` or
/// `APPOINTMENT_HOLD`. Unknown or other practices' patients, clinicians and authorizations
/// are 404 (audited).
#[utoipa::path(
    post,
    path = "/",
    tag = "appointments",
    request_body = BookAppointment,
    responses(
        (status = 201, description = "Booked or held", body = AppointmentOutcome),
        (status = 404, description = "No such patient, clinician or authorization in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "`SCHEDULE_CONFLICT`, `OUTSIDE_AVAILABILITY`, or the authorization cannot cover it (`INSUFFICIENT_UNITS`, `AUTHORIZATION_EXHAUSTED`, `AUTHORIZATION_EXPIRED`, `AUTHORIZATION_NOT_ACTIVE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn book_appointment(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<BookAppointment>,
) -> Result<(StatusCode, AppJson<AppointmentOutcome>), AppError> {
    let may = policy::schedule(&caller, "book_appointment")?;
    policy::book_with(&may, &caller, "book_appointment", body.clinician_id)?;
    if body.override_availability {
        policy::override_availability(&may, &caller, "book_appointment")?;
    }
    let request = check(&body)?;
    let mut attempt = 1;
    loop {
        match attempt_booking(&state, &caller, &meta, &may, &body, &request).await {
            Err(error) if attempt < MAX_ATTEMPTS && retryable(&error) => attempt += 1,
            result => return result.map(|outcome| (StatusCode::CREATED, AppJson(outcome))),
        }
    }
}

/// One run of the booking transaction.
async fn attempt_booking(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    may: &Schedule,
    body: &BookAppointment,
    request: &Request,
) -> Result<AppointmentOutcome, AppError> {
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let booked = book_in(
        state,
        &mut tx,
        caller,
        meta,
        may,
        &Booking {
            patient_id: body.patient_id,
            clinician_id: body.clinician_id,
            start: request.start,
            minutes: request.minutes,
            service_code: &request.service_code,
            units: request.units,
            hold_until: request.hold_until,
            concurrent_with: body.concurrent_with_appointment_id,
            override_availability: body.override_availability,
        },
    )
    .await?;
    let outcome = AppointmentOutcome::new(&booked.row, booked.remaining)?;
    tx.commit().await?;
    Ok(outcome)
}

/// What to book (or hold), checked by the caller: the policy allowed the clinician and any
/// override, the times and codes are parsed.
pub(crate) struct Booking<'a> {
    /// The patient.
    pub(crate) patient_id: PatientId,
    /// The clinician.
    pub(crate) clinician_id: UserId,
    /// Start.
    pub(crate) start: DateTime<Utc>,
    /// Length.
    pub(crate) minutes: i64,
    /// The service.
    pub(crate) service_code: &'a str,
    /// The units to reserve.
    pub(crate) units: Option<Units>,
    /// Held until (`None`: booked).
    pub(crate) hold_until: Option<DateTime<Utc>>,
    /// The appointment it is concurrent with.
    pub(crate) concurrent_with: Option<AppointmentId>,
    /// Book outside availability (the policy allowed it).
    pub(crate) override_availability: bool,
}

/// What [`book_in`] wrote.
pub(crate) struct Booked {
    /// The appointment.
    pub(crate) row: AppointmentRow,
    /// Units left on its authorization.
    pub(crate) remaining: Option<i32>,
}

/// The booking path, in the caller's transaction `tx` (nothing committed): the clinician and
/// patient checked, the booking locks, expired holds released at use, availability, the §5
/// session reserving the units, the appointment (the exclusion constraints decide overlaps),
/// and its `APPOINTMENT_BOOK` / `APPOINTMENT_HOLD` audit row. Waitlist offers hold their slot
/// through it too.
pub(crate) async fn book_in(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    may: &Schedule,
    booking: &Booking<'_>,
) -> Result<Booked, AppError> {
    let use_patients = may.patient_use();
    let end = booking.start + Duration::minutes(booking.minutes);
    active_clinician(tx, caller, booking.clinician_id).await?;
    let patient = find_patient(state, tx, caller, meta, &use_patients, booking.patient_id).await?;
    if let Some(other) = booking.concurrent_with {
        match appointments::find(tx, &use_patients, other, false).await? {
            Some(row)
                if row.patient_id == booking.patient_id
                    && ACTIVE.contains(&row.status.as_str()) => {}
            Some(_) => {
                return Err(AppError::invalid_field(
                    "concurrentWithAppointmentId",
                    "must be an active appointment of the same patient",
                ));
            }
            None => {
                let owner = appointments::organization_of(tx, other).await?;
                return Err(Denial::not_found(caller, "appointment", other, owner).into());
            }
        }
    }
    booking::lock(tx, &[booking.clinician_id], booking.patient_id).await?;
    holds::expire_at_use(tx, booking.clinician_id, booking.patient_id).await?;
    let within = appointments::within_availability(
        tx,
        booking.clinician_id,
        booking.start,
        end,
        booking.service_code,
    )
    .await?;
    let overridden = !within && booking.override_availability;
    booking::check_availability(
        tx,
        booking.clinician_id,
        booking.start,
        end,
        booking.service_code,
        within || overridden,
    )
    .await?;
    let method = patient.access().method;
    if overridden {
        audit::record(
            tx,
            &AuditEvent::new(AuditAction::AvailabilityOverride)
                .by(caller.actor())
                .with_access_method(method)
                .with_entity("user", booking.clinician_id)
                .with_patient(booking.patient_id)
                .with_details(json!({ "start": booking.start, "end": end }))
                .with_request(meta),
        )
        .await?;
    }
    let buffer_minutes = appointments::buffer_minutes(tx, booking.clinician_id).await?;
    let reserved = match booking.units {
        Some(units) => Some(
            units::reserve(
                tx,
                caller,
                meta,
                &use_patients,
                &patient,
                units,
                &Slot {
                    clinician: booking.clinician_id,
                    start: booking.start,
                    minutes: booking.minutes,
                    service_code: booking.service_code,
                },
            )
            .await?,
        ),
        None => None,
    };
    let row = booking::insert(
        tx,
        may,
        &NewAppointment {
            id: AppointmentId::new(),
            patient_id: booking.patient_id,
            clinician_id: booking.clinician_id,
            service_code: booking.service_code.to_owned(),
            start: booking.start,
            end,
            buffer_minutes,
            hold_expires_at: booking.hold_until,
            units: booking
                .units
                .zip(reserved)
                .map(|(u, r)| (u.authorization, r.session)),
            concurrent_with: booking.concurrent_with,
            overridden,
            created_by: Some(caller.user_id),
        },
    )
    .await?;
    let action = if row.hold_expires_at.is_some() {
        AuditAction::AppointmentHold
    } else {
        AuditAction::AppointmentBook
    };
    audit::record(
        tx,
        &AuditEvent::new(action)
            .by(caller.actor())
            .with_access_method(method)
            .with_entity("appointment", row.id)
            .with_patient(row.patient_id)
            .with_details(json!({
                "clinicianId": row.clinician_id,
                "start": row.start_at,
                "end": row.end_at,
                "serviceCode": row.service_code,
                "sessionId": row.session_id,
                "holdExpiresAt": row.hold_expires_at,
                "availabilityOverridden": overridden,
            }))
            .with_request(meta),
    )
    .await?;
    Ok(Booked {
        row,
        remaining: reserved.map(|r| r.remaining),
    })
}
