//! `POST /api/waitlist/{id}/offers`: offer a slot to an entry. The offer is a HELD appointment
//! made through the booking path itself (`crate::api::appointments::create::book_in`), so the
//! exclusion constraints protect the slot and the entry's units are reserved through the
//! ledger; the offer row's partial unique indexes keep one pending offer per entry and slot.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{Offer, OfferOutcome};
use super::lookup::find_entry;
use crate::api::appointments::create::{Booking, book_in};
use crate::api::appointments::lookup::retryable;
use crate::api::appointments::units::Units;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, RequestMeta};
use crate::auth::caller::Caller;
use crate::domain::parse_instant;
use crate::http::error::{AppError, Details, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::{UserId, WaitlistEntryId, WaitlistOfferId};
use crate::policy::appointments::{self as calendar, Schedule};
use crate::policy::waitlist::{self as policy, ManageWaitlist};
use crate::scheduling::booking::MAX_ATTEMPTS;
use crate::store::is_unique_violation;
use crate::store::waitlist_offers::{self, NewOffer, ONE_PER_ENTRY, ONE_PER_SLOT, Which};

/// How long an offer holds by default, in minutes.
const DEFAULT_TTL: i64 = 60;
/// The bounds of `ttlMinutes`.
const TTL_RANGE: (i64, i64) = (5, 2880);

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OfferSlot {
    /// The slot's clinician: an active CLINICIAN of the practice (a CLINICIAN caller: themself).
    clinician_id: UserId,
    /// The slot's start (RFC 3339).
    #[schema(format = DateTime, example = "2027-03-15T13:00:00Z")]
    start: String,
    /// 15–480 minutes.
    #[schema(minimum = 15, maximum = 480)]
    duration_minutes: i64,
    /// How long the offer holds the slot, 5–2,880 minutes (default 60).
    #[schema(minimum = 5, maximum = 2880)]
    ttl_minutes: Option<i64>,
}

struct Checked {
    start: DateTime<Utc>,
    minutes: i64,
    ttl: i64,
}

fn check(body: &OfferSlot) -> Result<Checked, AppError> {
    let mut details = Details::new();
    let start = parse_instant(&body.start)
        .map_err(|e| details.insert("start".into(), e))
        .ok();
    if !(15..=480).contains(&body.duration_minutes) {
        details.insert("durationMinutes".into(), "must be 15 to 480".into());
    }
    let ttl = body.ttl_minutes.unwrap_or(DEFAULT_TTL);
    if !(TTL_RANGE.0..=TTL_RANGE.1).contains(&ttl) {
        details.insert(
            "ttlMinutes".into(),
            format!("must be {} to {}", TTL_RANGE.0, TTL_RANGE.1),
        );
    }
    match start {
        Some(start) if details.is_empty() => Ok(Checked {
            start,
            minutes: body.duration_minutes,
            ttl,
        }),
        _ => Err(AppError::validation("The offer is not valid", details)),
    }
}

/// Offer a slot to a waitlist entry
///
/// Holds the slot as a HELD appointment until `expiresAt` (`ttlMinutes`, default 60, 5–2,880)
/// through the booking path: overlaps are 409 `SCHEDULE_CONFLICT`, a time outside the
/// clinician's availability 409 `OUTSIDE_AVAILABILITY`; when the entry names an
/// authorization its units are reserved now (409 `INSUFFICIENT_UNITS` …), so accepting cannot
/// fail for lack of units. One pending offer per entry and per slot (409 `CONFLICT`). An entry
/// that no longer waits: 409 `INVALID_STATE`. ADMIN, SCHEDULER, and a CLINICIAN on their own
/// calendar for care-team patients. Audited `WAITLIST_OFFER_CREATE` (and `APPOINTMENT_HOLD`).
#[utoipa::path(
    post,
    path = "/{id}/offers",
    tag = "waitlist",
    params(("id" = Uuid, Path, description = "The entry's id")),
    request_body = OfferSlot,
    responses(
        (status = 201, description = "Offered; the slot is held", body = OfferOutcome),
        (status = 400, description = "A field is not valid (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such entry or clinician in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "`SCHEDULE_CONFLICT`, `OUTSIDE_AVAILABILITY`, `CONFLICT` (a pending offer exists), `INVALID_STATE`, or the units cannot be reserved", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn offer_slot(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<WaitlistEntryId>,
    AppJson(body): AppJson<OfferSlot>,
) -> Result<(StatusCode, AppJson<OfferOutcome>), AppError> {
    let may = policy::manage_entry(&caller, "offer_slot", id)?;
    let schedule = calendar::schedule(&caller, "offer_slot")?;
    calendar::book_with(&schedule, &caller, "offer_slot", body.clinician_id)?;
    let checked = check(&body)?;
    let mut attempt = 1;
    loop {
        match attempt_offer(&state, &caller, &meta, &may, &schedule, id, &body, &checked).await {
            Err(error) if attempt < MAX_ATTEMPTS && retryable(&error) => attempt += 1,
            result => return result.map(|outcome| (StatusCode::CREATED, AppJson(outcome))),
        }
    }
}

#[expect(clippy::too_many_arguments, reason = "one request's parts")]
async fn attempt_offer(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    may: &ManageWaitlist,
    schedule: &Schedule,
    id: WaitlistEntryId,
    body: &OfferSlot,
    checked: &Checked,
) -> Result<OfferOutcome, AppError> {
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let entry = find_entry(state, &mut tx, caller, meta, &may.patient_use(), id, true).await?;
    let row = entry.row();
    if !row.is_waiting(Utc::now()) {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            "The waitlist entry no longer waits",
        ));
    }
    // This entry's and this slot's offers past their expiry give them back first (with their
    // ledger and audit rows), so the one-pending constraints see only live offers. (The slot is
    // about to be offered by a human: no auto-offer of it here.)
    waitlist_offers::expire(
        &mut tx,
        Which::EntryOrSlot {
            entry: id,
            clinician: body.clinician_id,
            start: checked.start,
        },
        "at_use",
    )
    .await?;
    let expires_at = Utc::now() + Duration::minutes(checked.ttl);
    let booked = book_in(
        state,
        &mut tx,
        caller,
        meta,
        schedule,
        &Booking {
            patient_id: row.patient_id,
            clinician_id: body.clinician_id,
            start: checked.start,
            minutes: checked.minutes,
            service_code: &row.service_code,
            units: row.authorization_id.map(|authorization| Units {
                authorization,
                expected: None,
            }),
            hold_until: Some(expires_at),
            concurrent_with: None,
            override_availability: false,
        },
    )
    .await?;
    let offer = match waitlist_offers::insert(
        &mut tx,
        may,
        &NewOffer {
            id: WaitlistOfferId::new(),
            entry_id: id,
            patient_id: row.patient_id,
            appointment_id: booked.row.id,
            clinician_id: body.clinician_id,
            start: booked.row.start_at,
            end: booked.row.end_at,
            expires_at,
            automatic: false,
            created_by: Some(caller.user_id),
        },
    )
    .await
    {
        Ok(offer) => offer,
        Err(error) if is_unique_violation(&error, ONE_PER_ENTRY) => {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "The entry already has a pending offer",
            ));
        }
        Err(error) if is_unique_violation(&error, ONE_PER_SLOT) => {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "The slot is already offered",
            ));
        }
        Err(error) => return Err(error.into()),
    };
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::WaitlistOfferCreate)
            .by(caller.actor())
            .with_access_method(entry.access().method)
            .with_entity("waitlist_offer", offer.id)
            .with_patient(offer.patient_id)
            .with_details(json!({
                "entryId": id,
                "appointmentId": offer.appointment_id,
                "clinicianId": offer.clinician_id,
                "start": offer.start_at,
                "expiresAt": offer.expires_at,
            }))
            .with_request(meta),
    )
    .await?;
    let outcome = OfferOutcome {
        offer: Offer::new(&offer, &booked.row.status)?,
        remaining_units: booked.remaining,
    };
    tx.commit().await?;
    Ok(outcome)
}
