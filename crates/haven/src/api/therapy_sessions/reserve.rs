//! `POST /api/sessions`: reserve units for a session.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::TherapySessionOutcome;
use crate::api::access::visible;
use crate::api::authorizations::lookup::missing;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::http::error::{AppError, Details, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::ids::{AuthorizationId, TherapySessionId, UserId};
use crate::policy::Denial;
use crate::policy::units as policy;
use crate::store::users;
use crate::telemetry::metrics;
use crate::units::ledger::{self, Hold};
use crate::units::minutes::MAX_SESSION_MINUTES;

/// The request body: the session to reserve units for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReserveSession {
    /// The authorization to take the units from: ACTIVE, with units left, its period covering
    /// the session's date.
    authorization_id: AuthorizationId,
    /// The treating clinician: an active CLINICIAN of the practice. When absent or `null`, a
    /// CLINICIAN caller is the clinician; for other callers the session has none.
    clinician_id: Option<UserId>,
    /// When the session starts: an RFC 3339 timestamp, years 2000–2100.
    #[schema(format = DateTime, example = "2026-01-31T09:00:00Z")]
    start_time: String,
    /// The units to reserve: 1–1440, and at most a day's worth of the authorization's
    /// `unitMinutes` (1440 minutes).
    #[schema(minimum = 1, maximum = 1440)]
    expected_units: i64,
}

/// An RFC 3339 timestamp between the years 2000 and 2100.
pub(super) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let time = DateTime::parse_from_rfc3339(text.trim())
        .map_err(|_| "must be an RFC 3339 timestamp like 2026-01-31T09:00:00Z".to_owned())?
        .with_timezone(&Utc);
    if !(2000..=2100).contains(&time.year()) {
        return Err("must be between the years 2000 and 2100".into());
    }
    Ok(time)
}

fn check(body: &ReserveSession) -> Result<(DateTime<Utc>, i32), AppError> {
    let mut details = Details::new();
    let start = parse_time(&body.start_time)
        .map_err(|e| details.insert("startTime".into(), e))
        .ok();
    let units = i32::try_from(body.expected_units)
        .ok()
        .filter(|u| (1..=i32::try_from(MAX_SESSION_MINUTES).unwrap_or(i32::MAX)).contains(u));
    if units.is_none() {
        details.insert(
            "expectedUnits".into(),
            format!("must be a whole number from 1 to {MAX_SESSION_MINUTES}"),
        );
    }
    match (start, units) {
        (Some(start), Some(units)) if details.is_empty() => Ok((start, units)),
        _ => Err(AppError::validation("The session is not valid", details)),
    }
}

/// Reserve units for a therapy session.
///
/// `POST /api/sessions` → 201 `{success, session, remainingUnits}` with the session SCHEDULED.
/// ADMIN, BILLING, CLINICIAN (for patients on their care team or under an active emergency
/// grant) and SUPER_ADMIN acting in a practice; COMPLIANCE gets 403. The units are taken
/// atomically, so concurrent reservations never over-allocate; a refusal changes nothing.
/// Audited as `SESSION_RESERVE` (and `AUTHORIZATION_LOW_UNITS` when the authorization falls
/// below its low-units threshold). An authorization of another practice, or of a patient the
/// caller may not see, answers 404 (audited).
#[utoipa::path(
    post,
    path = "/",
    tag = "sessions",
    request_body = ReserveSession,
    responses(
        (status = 201, description = "The units are reserved; the session is SCHEDULED", body = TherapySessionOutcome),
        (status = 404, description = "No such authorization in the caller's practice, or one of a patient the caller may not see (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The authorization cannot cover the session: fewer units left than asked (`INSUFFICIENT_UNITS`), none left (`AUTHORIZATION_EXHAUSTED`), the session's date outside its period (`AUTHORIZATION_EXPIRED`), or it is cancelled (`AUTHORIZATION_NOT_ACTIVE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn reserve_session(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<ReserveSession>,
) -> Result<(StatusCode, AppJson<TherapySessionOutcome>), AppError> {
    let id = body.authorization_id;
    let may = policy::use_units(&caller, "reserve_session")
        .map_err(|_| Denial::forbidden_on(&caller, "reserve_session", "authorization", id, None))?;
    let (start, units) = check(&body)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let clinician = match body.clinician_id {
        Some(user) => match users::find(&mut tx, user).await? {
            Some(found) if found.role == Role::Clinician && !found.disabled => Some(user),
            _ => {
                return Err(AppError::invalid_field(
                    "clinicianId",
                    "must be an active clinician of this organization",
                ));
            }
        },
        None if caller.role == Role::Clinician => Some(caller.user_id),
        None => None,
    };
    // `haven_unit_reservations_total` counts what the caller was answered, once it is final.
    let held = match ledger::hold(&mut tx, &may, id, units, start).await? {
        Hold::Held(held) => held,
        Hold::Missing => {
            metrics::unit_reservation("not_found");
            return Err(missing(&mut tx, &caller, id).await?.into());
        }
        Hold::Refused {
            authorization,
            refusal,
        } => {
            // Whoever may not see the patient learns nothing about its authorization.
            visible(&state, &mut tx, &caller, &meta, &may, *authorization)
                .await
                .inspect_err(count_hidden)?;
            metrics::unit_reservation(refusal.label());
            return Err(refusal.into());
        }
    };
    let held = visible(&state, &mut tx, &caller, &meta, &may, held)
        .await
        .inspect_err(count_hidden)?;
    let patient = held.patient_id();
    let access = *held.access();
    let outcome = ledger::record_reservation(
        &mut tx,
        held,
        TherapySessionId::new(),
        clinician,
        start,
        Some(caller.user_id),
    )
    .await?;
    let remaining = outcome.balance.available_units();
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::SessionReserve)
            .by(caller.actor())
            .with_access_method(access.method)
            .with_entity("session", outcome.session.id)
            .with_patient(patient)
            .with_details(json!({
                "authorizationId": id,
                "units": units,
                "remainingUnits": remaining,
            }))
            .with_request(&meta),
    )
    .await?;
    if outcome.crossed_low_threshold {
        audit::record(
            &mut tx,
            &ledger::low_units_event(&outcome.balance)
                .by(caller.actor())
                .with_access_method(access.method)
                .with_request(&meta),
        )
        .await?;
    }
    let body = TherapySessionOutcome::new(&outcome.session, remaining)?;
    tx.commit().await?;
    metrics::unit_reservation("reserved");
    Ok((StatusCode::CREATED, AppJson(body)))
}

/// An authorization of a patient the caller may not see answers 404: counted as `not_found`.
fn count_hidden(error: &AppError) {
    if error.code() == ErrorCode::NotFound {
        metrics::unit_reservation("not_found");
    }
}
