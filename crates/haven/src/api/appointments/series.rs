//! `/api/appointment-series`: a weekly series booked, and cancelled, as a whole (SPEC §6
//! "Series"). Whatever the number of occurrences, the series is generated and checked in one
//! statement, its units taken in one conditional UPDATE, written in one statement and audited
//! in one; a cancellation is one statement and one audit statement.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Months, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::codec::Appointment;
use super::lookup::retryable;
use crate::api::authorizations::lookup::missing;
use crate::api::clinicians::lookup::active_clinician;
use crate::api::patients::lookup::find_visible as find_patient;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, RequestMeta};
use crate::auth::caller::Caller;
use crate::domain::parse_time_zone_name;
use crate::http::error::{AppError, Details, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::ids::{AppointmentId, AuthorizationId, PatientId, SeriesId, TherapySessionId, UserId};
use crate::policy::Denial;
use crate::policy::appointments::{self as policy, Schedule};
use crate::scheduling::ScheduleError;
use crate::scheduling::booking::{self, MAX_ATTEMPTS};
use crate::scheduling::check_local_grid;
use crate::scheduling::holds;
use crate::scheduling::wall_time::parse_day;
use crate::store::organizations::is_known_time_zone;
use crate::store::series::{self, NewSeries, Occurrence, Period, Recurrence};
use crate::units::ledger;
use crate::units::parse_service_code;

/// At most this many occurrences.
const MAX_OCCURRENCES: usize = 52;

/// The recurrence rule (a subset of RFC 5545 RRULE).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RecurrenceBody {
    /// `WEEKLY`.
    #[schema(example = "WEEKLY")]
    frequency: String,
    /// Every week (1) or every other week (2), counted from the week of `startDate`.
    #[schema(minimum = 1, maximum = 2)]
    interval: i32,
    /// Days of the week: `MO` … `SU`.
    #[schema(example = json!(["MO", "TH"]))]
    by_day: Vec<String>,
    /// Number of occurrences (1–52).
    #[schema(minimum = 1, maximum = 52)]
    count: Option<i64>,
    /// Last local date (inclusive), at most 12 months after `startDate`.
    #[schema(format = Date)]
    until: Option<String>,
}

/// What to do with occurrences that cannot be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Book nothing: 409 listing every occurrence that cannot be booked.
    Reject,
    /// Book the free occurrences and name the others in `skipped`.
    Skip,
}

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateSeries {
    /// The patient.
    patient_id: PatientId,
    /// The clinician (a CLINICIAN caller: themself).
    clinician_id: UserId,
    /// The service (`97153`).
    service_code: String,
    /// Reserve units of this authorization for every occurrence, all at once.
    authorization_id: Option<AuthorizationId>,
    /// Units per occurrence (1–1440); default: the duration in the authorization's units,
    /// rounded up.
    #[schema(minimum = 1, maximum = 1440)]
    expected_units_per_occurrence: Option<i64>,
    /// The IANA zone of `startDate` and `startTime`: each occurrence keeps its local wall time
    /// across DST changes.
    #[schema(example = "America/New_York")]
    time_zone: String,
    /// First local date.
    #[schema(format = Date)]
    start_date: String,
    /// Local start time `HH:MM`.
    #[schema(example = "15:00")]
    start_time: String,
    /// 15–480 minutes.
    #[schema(minimum = 15, maximum = 480)]
    duration_minutes: i64,
    /// The rule.
    recurrence: RecurrenceBody,
    /// `reject` (all or nothing) or `skip`.
    on_conflict: OnConflict,
    /// Check and answer the same body, writing nothing.
    #[serde(default)]
    dry_run: bool,
}

/// The checked request.
struct Request {
    service_code: String,
    time_zone: String,
    first: NaiveDate,
    last: NaiveDate,
    at: NaiveTime,
    days: Vec<i32>,
    limit: i64,
    minutes: i32,
    expected: Option<i32>,
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| "must be a date YYYY-MM-DD".to_owned())
}

fn check(body: &CreateSeries) -> Result<Request, AppError> {
    let mut details = Details::new();
    let mut field = |name: &str, problem: String| {
        details.insert(name.to_owned(), problem);
    };
    let code = parse_service_code(&body.service_code)
        .map_err(|e| field("serviceCode", e))
        .ok();
    let zone = parse_time_zone_name(&body.time_zone)
        .map_err(|e| field("timeZone", e))
        .ok();
    let first = parse_date(&body.start_date)
        .map_err(|e| field("startDate", e))
        .ok();
    let at = NaiveTime::parse_from_str(body.start_time.trim(), "%H:%M")
        .map_err(|_| "must be a time HH:MM".to_owned())
        .and_then(|at| check_local_grid(at).map(|()| at))
        .map_err(|e| field("startTime", e))
        .ok();
    if !(15..=480).contains(&body.duration_minutes) {
        field("durationMinutes", "must be 15 to 480".into());
    }
    let expected = match body.expected_units_per_occurrence {
        Some(n) if (1..=1440).contains(&n) => i32::try_from(n).ok(),
        Some(_) => {
            field("expectedUnitsPerOccurrence", "must be 1 to 1440".into());
            None
        }
        None => None,
    };
    if body.expected_units_per_occurrence.is_some() && body.authorization_id.is_none() {
        field(
            "expectedUnitsPerOccurrence",
            "needs an authorizationId to take the units from".into(),
        );
    }
    let r = &body.recurrence;
    if r.frequency != "WEEKLY" {
        field("recurrence.frequency", "must be WEEKLY".into());
    }
    if !(1..=2).contains(&r.interval) {
        field("recurrence.interval", "must be 1 or 2".into());
    }
    let mut days = Vec::new();
    if r.by_day.is_empty() || r.by_day.len() > 7 {
        field("recurrence.byDay", "must name 1 to 7 days".into());
    }
    for day in &r.by_day {
        match parse_day(day) {
            Ok(d) => days.push(i32::from(d)),
            Err(e) => {
                field("recurrence.byDay", e);
                break;
            }
        }
    }
    days.sort_unstable();
    days.dedup();
    if r.count.is_some_and(|c| !(1..=52).contains(&c)) {
        field(
            "recurrence.count",
            format!("must be 1 to {MAX_OCCURRENCES}"),
        );
    }
    let cap = first.and_then(|f| {
        f.checked_add_months(Months::new(12))
            .and_then(|d| d.pred_opt())
    });
    let until = r
        .until
        .as_deref()
        .map(parse_date)
        .transpose()
        .map_err(|e| field("recurrence.until", e))
        .ok()
        .flatten();
    if let (Some(until), Some(first), Some(cap)) = (until, first, cap) {
        if until < first {
            field("recurrence.until", "must not be before startDate".into());
        } else if until > cap {
            field(
                "recurrence.until",
                "must be within 12 months of startDate".into(),
            );
        }
    }
    if r.count.is_none() && r.until.is_none() {
        field("recurrence", "needs count or until".into());
    }
    match (code, zone, first, at, cap) {
        (Some(service_code), Some(time_zone), Some(first), Some(at), Some(cap))
            if details.is_empty() =>
        {
            Ok(Request {
                service_code,
                time_zone,
                first,
                last: until.unwrap_or(cap),
                at,
                days,
                // One more than allowed: an `until` that yields too many is told apart.
                limit: r.count.unwrap_or(53),
                minutes: i32::try_from(body.duration_minutes).unwrap_or(i32::MAX),
                expected,
            })
        }
        _ => Err(AppError::validation("The series is not valid", details)),
    }
}

/// The series as booked.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    /// The series (also when `dryRun`: nothing was written).
    id: SeriesId,
    /// Whose.
    patient_id: PatientId,
    /// With whom.
    clinician_id: UserId,
    /// The service.
    service_code: String,
    /// The zone of the wall times.
    time_zone: String,
    /// Local start time.
    start_time: String,
    /// Minutes per occurrence.
    duration_minutes: i32,
    /// The rule.
    recurrence: RecurrenceBody,
    /// The authorization the units come from.
    authorization_id: Option<AuthorizationId>,
    /// Whether this was only a check.
    dry_run: bool,
}

/// An occurrence that was not booked.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    /// Its start.
    start: DateTime<Utc>,
    /// `clinician` or `patient` (a conflict), `outside_availability`,
    /// `after_authorization_end` or `before_authorization_start`.
    reason: String,
}

/// `{"success": true, "series", "appointments", "skipped", "reservedUnits", "remainingUnits"}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeriesOutcome {
    /// Always `true`.
    success: bool,
    /// The series.
    series: Series,
    /// Its booked appointments, in order.
    appointments: Vec<Appointment>,
    /// The occurrences not booked (`skip`).
    skipped: Vec<Skipped>,
    /// Units reserved for all of them (0 without an authorization).
    reserved_units: i32,
    /// Units left on the authorization (`null` without one).
    remaining_units: Option<i32>,
}

/// Book a weekly series
///
/// Books the occurrences of `recurrence` (at most 52, within 12 months) generated in
/// `timeZone` at the local `startTime` (kept across DST changes). Every occurrence is checked
/// against the calendar (the clinician's appointments and time off with buffers, the patient's
/// appointments), the clinician's availability and the authorization's period: `reject`
/// answers 409 `SCHEDULE_CONFLICT` with every occurrence that cannot be booked in `details`
/// (start → reason) and books nothing; `skip` books the others and names them in `skipped`.
/// With `authorizationId`, the units of every booked occurrence are reserved at once (409
/// `INSUFFICIENT_UNITS` for the whole request when they do not fit). `dryRun` answers the same
/// body and writes nothing. ADMIN, SCHEDULER, and a CLINICIAN on their own calendar for
/// patients on their care team. Audited `SERIES_CREATE`, and `APPOINTMENT_BOOK` and
/// `SESSION_RESERVE` per occurrence.
#[utoipa::path(
    post,
    path = "/",
    tag = "appointments",
    request_body = CreateSeries,
    responses(
        (status = 201, description = "Booked (or checked, with `dryRun`)", body = SeriesOutcome),
        (status = 404, description = "No such patient, clinician or authorization in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "`SCHEDULE_CONFLICT` (details: start → reason), or the authorization cannot cover the series (`INSUFFICIENT_UNITS`, `AUTHORIZATION_EXHAUSTED`, `AUTHORIZATION_EXPIRED`, `AUTHORIZATION_NOT_ACTIVE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn create_series(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<CreateSeries>,
) -> Result<(StatusCode, AppJson<SeriesOutcome>), AppError> {
    let may = policy::schedule(&caller, "create_series")?;
    policy::book_with(&may, &caller, "create_series", body.clinician_id)?;
    let request = check(&body)?;
    let mut attempt = 1;
    loop {
        match attempt_series(&state, &caller, &meta, &may, &body, &request).await {
            Err(error) if attempt < MAX_ATTEMPTS && retryable(&error) => attempt += 1,
            result => return result.map(|outcome| (StatusCode::CREATED, AppJson(outcome))),
        }
    }
}

/// The occurrences of the plan, once it passed the caps.
fn checked(
    occurrences: &[Occurrence],
    request: &Request,
    body: &CreateSeries,
) -> Result<(), AppError> {
    if occurrences.is_empty() {
        return Err(AppError::invalid_field(
            "recurrence",
            "has no occurrence on or after startDate",
        ));
    }
    if occurrences.len() > MAX_OCCURRENCES {
        return Err(AppError::invalid_field(
            "recurrence",
            format!("must have at most {MAX_OCCURRENCES} occurrences"),
        ));
    }
    if body.recurrence.until.is_none()
        && i64::try_from(occurrences.len()).unwrap_or(i64::MAX) < request.limit
    {
        return Err(AppError::invalid_field(
            "recurrence.count",
            "the occurrences would run past 12 months",
        ));
    }
    if occurrences.iter().any(|o| !o.exists_locally) {
        return Err(AppError::invalid_field(
            "startTime",
            "does not exist on every date of the series in timeZone (a DST gap)",
        ));
    }
    Ok(())
}

/// One run of the series transaction.
#[allow(clippy::too_many_lines)]
async fn attempt_series(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    may: &Schedule,
    body: &CreateSeries,
    request: &Request,
) -> Result<SeriesOutcome, AppError> {
    let use_patients = may.patient_use();
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    if !is_known_time_zone(&mut tx, &request.time_zone).await? {
        return Err(AppError::invalid_field(
            "timeZone",
            "is not a known IANA time zone",
        ));
    }
    active_clinician(&mut tx, caller, body.clinician_id).await?;
    let patient =
        find_patient(state, &mut tx, caller, meta, &use_patients, body.patient_id).await?;
    let authorization = match body.authorization_id {
        Some(id) => {
            let Some(row) = crate::store::authorizations::find(&mut tx, &use_patients, id).await?
            else {
                return Err(missing(&mut tx, caller, id).await?.into());
            };
            if row.patient_id != body.patient_id {
                return Err(AppError::invalid_field(
                    "authorizationId",
                    "belongs to another patient",
                ));
            }
            if row.service_code != request.service_code {
                return Err(AppError::invalid_field(
                    "authorizationId",
                    "covers another service code",
                ));
            }
            Some(row)
        }
        None => None,
    };
    booking::lock(&mut tx, &[body.clinician_id], body.patient_id).await?;
    holds::expire_at_use(&mut tx, body.clinician_id, body.patient_id).await?;
    let occurrences = series::plan(
        &mut tx,
        may,
        body.clinician_id,
        body.patient_id,
        &Recurrence {
            time_zone: &request.time_zone,
            first: request.first,
            last: request.last,
            at: request.at,
            days: request.days.clone(),
            interval: body.recurrence.interval,
            limit: request.limit,
            minutes: request.minutes,
        },
        &request.service_code,
        authorization.as_ref().map(|a| Period {
            start: a.start_date,
            end: a.end_date,
        }),
    )
    .await?;
    checked(&occurrences, request, body)?;
    let (free, taken): (Vec<&Occurrence>, Vec<&Occurrence>) =
        occurrences.iter().partition(|o| o.reason.is_none());
    if !taken.is_empty() && (body.on_conflict == OnConflict::Reject || free.is_empty()) {
        let details: Details = taken
            .iter()
            .map(|o| {
                (
                    o.start_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    o.reason.clone().unwrap_or_default(),
                )
            })
            .collect();
        return Err(AppError::with_details(
            ErrorCode::ScheduleConflict,
            format!(
                "{} of {} occurrences cannot be booked",
                taken.len(),
                occurrences.len()
            ),
            details,
        ));
    }
    let count = i32::try_from(free.len()).unwrap_or(i32::MAX);
    let (units, balance) = match &authorization {
        Some(row) => {
            let per = request.expected.unwrap_or_else(|| {
                let unit = i64::from(row.unit_minutes.max(1));
                i32::try_from((i64::from(request.minutes) + unit - 1) / unit).unwrap_or(i32::MAX)
            });
            let days = (
                ledger::session_day(free[0].start_at),
                ledger::session_day(free[free.len() - 1].start_at),
            );
            match ledger::hold_series(&mut tx, row, per, count, days).await? {
                Ok(balance) => (Some((row.id, per, row.unit_minutes)), Some(balance)),
                Err(refusal) => {
                    if !body.dry_run {
                        crate::telemetry::metrics::unit_reservation(refusal.label());
                    }
                    return Err(ScheduleError::Units(refusal).into());
                }
            }
        }
        None => (None, None),
    };
    let buffer_minutes = free[0].buffer_minutes;
    let id = SeriesId::new();
    let rows = series::insert(
        &mut tx,
        may,
        &NewSeries {
            id,
            patient_id: body.patient_id,
            clinician_id: body.clinician_id,
            service_code: &request.service_code,
            minutes: request.minutes,
            buffer_minutes,
            occurrences: free
                .iter()
                .map(|o| (AppointmentId::new(), o.start_at, TherapySessionId::new()))
                .collect(),
            units,
            created_by: caller.user_id,
        },
    )
    .await
    .map_err(|error| {
        let error = ScheduleError::from(error);
        if let ScheduleError::Conflict(with) = &error {
            tracing::info!(conflict_with = with.as_str(), "series conflict at write");
        }
        error
    })?;
    let reserved = units.map_or(0, |(_, per, _)| per.saturating_mul(count));
    let remaining = balance.map(|b| b.available_units());
    let method = patient.access().method;
    let mut events = vec![
        AuditEvent::new(AuditAction::SeriesCreate)
            .by(caller.actor())
            .with_access_method(method)
            .with_entity("appointment_series", id)
            .with_patient(body.patient_id)
            .with_details(json!({
                "clinicianId": body.clinician_id,
                "serviceCode": request.service_code,
                "occurrences": rows.len(),
                "skipped": taken.len(),
                "authorizationId": body.authorization_id,
                "reservedUnits": reserved,
                "remainingUnits": remaining,
                "onConflict": body.on_conflict,
                "dryRun": body.dry_run,
            }))
            .with_request(meta),
    ];
    for row in &rows {
        events.push(
            AuditEvent::new(AuditAction::AppointmentBook)
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
                    "seriesId": id,
                    "holdExpiresAt": null,
                    "availabilityOverridden": false,
                }))
                .with_request(meta),
        );
        if let (Some(session), Some((authorization, per, _))) = (row.session_id, units) {
            events.push(
                AuditEvent::new(AuditAction::SessionReserve)
                    .by(caller.actor())
                    .with_access_method(method)
                    .with_entity("session", session)
                    .with_patient(row.patient_id)
                    .with_details(json!({
                        "authorizationId": authorization,
                        "units": per,
                        "seriesId": id,
                        "remainingUnits": remaining,
                    }))
                    .with_request(meta),
            );
        }
    }
    if let Some(balance) = balance.filter(|b| b.crossed_low_threshold(reserved)) {
        events.push(
            ledger::low_units_event(&balance)
                .by(caller.actor())
                .with_access_method(method)
                .with_request(meta),
        );
    }
    audit::record_many(&mut tx, &events).await?;
    let appointments = rows
        .iter()
        .map(Appointment::new)
        .collect::<Result<Vec<_>, _>>()?;
    let outcome = SeriesOutcome {
        success: true,
        series: Series {
            id,
            patient_id: body.patient_id,
            clinician_id: body.clinician_id,
            service_code: request.service_code.clone(),
            time_zone: request.time_zone.clone(),
            start_time: request.at.format("%H:%M").to_string(),
            duration_minutes: request.minutes,
            recurrence: body.recurrence.clone(),
            authorization_id: body.authorization_id,
            dry_run: body.dry_run,
        },
        appointments,
        skipped: taken
            .iter()
            .map(|o| Skipped {
                start: o.start_at,
                reason: o.reason.clone().unwrap_or_default(),
            })
            .collect(),
        reserved_units: reserved,
        remaining_units: remaining,
    };
    if body.dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
        if units.is_some() {
            crate::telemetry::metrics::unit_reservation("reserved");
        }
    }
    Ok(outcome)
}

/// The request body of a cancellation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CancelSeries {
    /// Cancel the occurrences from this local date (the practice's time zone) on; default:
    /// from now.
    #[schema(format = Date)]
    from_date: Option<String>,
    /// Why (1–500 characters).
    reason: String,
}

/// `{"success": true, "cancelled": n, "releasedUnits": n}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelledSeries {
    /// Always `true`.
    success: bool,
    /// Appointments cancelled.
    cancelled: usize,
    /// Units given back to the authorization.
    released_units: i64,
}

/// Cancel a series
///
/// Cancels the HELD and BOOKED appointments of the series from `fromDate` (default: now) on,
/// in one statement: their sessions cancelled and their units given back through the ledger
/// (RELEASE rows). ADMIN, SCHEDULER, and a CLINICIAN for their own series of patients on their
/// care team. Audited `SERIES_CANCEL`, and `APPOINTMENT_CANCEL` (and `SESSION_CANCEL`) per
/// appointment. Other practices' series are 404 (audited).
#[utoipa::path(
    post,
    path = "/{id}/cancel",
    tag = "appointments",
    params(("id" = SeriesId, Path, description = "The series")),
    request_body = CancelSeries,
    responses(
        (status = 200, description = "Cancelled", body = CancelledSeries),
        (status = 404, description = "No such series in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn cancel_series(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    Path(id): Path<SeriesId>,
    AppJson(body): AppJson<CancelSeries>,
) -> Result<AppJson<CancelledSeries>, AppError> {
    let may = policy::schedule(&caller, "cancel_series").map_err(|_| {
        Denial::forbidden_on(&caller, "cancel_series", "appointment_series", id, None)
    })?;
    let reason = body.reason.trim();
    let mut details = Details::new();
    if !(1..=500).contains(&reason.chars().count()) {
        details.insert("reason".into(), "must be 1 to 500 characters".into());
    }
    let from_date = match body.from_date.as_deref().map(parse_date).transpose() {
        Ok(d) => d,
        Err(e) => {
            details.insert("fromDate".into(), e);
            None
        }
    };
    if !details.is_empty() {
        return Err(AppError::validation(
            "The cancellation is not valid",
            details,
        ));
    }
    let mut attempt = 1;
    loop {
        match attempt_cancel(&state, &caller, &meta, &may, id, from_date, reason).await {
            Err(error) if attempt < MAX_ATTEMPTS && retryable(&error) => attempt += 1,
            result => return result.map(AppJson),
        }
    }
}

async fn attempt_cancel(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    may: &Schedule,
    id: SeriesId,
    from_date: Option<NaiveDate>,
    reason: &str,
) -> Result<CancelledSeries, AppError> {
    let use_patients = may.patient_use();
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let Some(row) = series::lock(&mut tx, may, id).await? else {
        let owner = series::organization_of(&mut tx, id).await?;
        return Err(Denial::not_found(caller, "appointment_series", id, owner).into());
    };
    policy::book_with(may, caller, "cancel_series", row.clinician_id)?;
    let patient = find_patient(state, &mut tx, caller, meta, &use_patients, row.patient_id).await?;
    booking::lock(&mut tx, &[row.clinician_id], row.patient_id).await?;
    let from = series::from_instant(&mut tx, from_date).await?;
    let cancelled = series::cancel(&mut tx, may, id, from, reason, caller.user_id).await?;
    let released: i64 = cancelled.iter().map(|c| i64::from(c.released_units)).sum();
    let method = patient.access().method;
    let mut events = vec![
        AuditEvent::new(AuditAction::SeriesCancel)
            .by(caller.actor())
            .with_access_method(method)
            .with_entity("appointment_series", id)
            .with_patient(row.patient_id)
            .with_details(json!({
                "from": from,
                "cancelled": cancelled.len(),
                "releasedUnits": released,
            }))
            .with_request(meta),
    ];
    for c in &cancelled {
        events.push(
            AuditEvent::new(AuditAction::AppointmentCancel)
                .by(caller.actor())
                .with_access_method(method)
                .with_entity("appointment", c.id)
                .with_patient(row.patient_id)
                .with_details(json!({ "seriesId": id, "start": c.start_at, "via": "series" }))
                .with_request(meta),
        );
        if let Some(session) = c.session_id {
            events.push(
                AuditEvent::new(AuditAction::SessionCancel)
                    .by(caller.actor())
                    .with_access_method(method)
                    .with_entity("session", session)
                    .with_patient(row.patient_id)
                    .with_details(json!({ "releasedUnits": c.released_units, "via": "series" }))
                    .with_request(meta),
            );
        }
    }
    audit::record_many(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(CancelledSeries {
        success: true,
        cancelled: cancelled.len(),
        released_units: released,
    })
}
