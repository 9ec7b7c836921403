//! `POST /api/waitlist-offers/{id}/accept` and `/decline`. An offer past `expiresAt` is
//! expired at use: its hold and units are released (committed), then 409 `OFFER_EXPIRED`.

use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{Offer, OfferOutcome};
use super::lookup::find_offer;
use crate::api::appointments::lookup::find_visible as find_appointment;
use crate::api::appointments::units::session_event;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, RequestMeta};
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::domain::parse_name;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::WaitlistOfferId;
use crate::policy::appointments as calendar;
use crate::policy::patients::Visible;
use crate::policy::waitlist as policy;
use crate::scheduling::auto_offer;
use crate::store::appointments::{self, AppointmentRow};
use crate::store::waitlist::{self, Slot};
use crate::store::waitlist_offers::{self, OfferRow, Which};
use crate::store::{authorizations, sessions_units};
use crate::units::ledger;

/// What the caller decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Accept,
    Decline,
}

impl Decision {
    fn operation(self) -> &'static str {
        match self {
            Self::Accept => "accept_offer",
            Self::Decline => "decline_offer",
        }
    }
}

/// The offer (locked) and its HELD appointment (locked), after the checks every decision
/// shares; an expired offer is released and committed, then answered 409 `OFFER_EXPIRED`.
async fn open(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    id: WaitlistOfferId,
    decision: Decision,
) -> Result<(TenantTx, Visible<OfferRow>, Visible<AppointmentRow>), AppError> {
    let operation = decision.operation();
    let may = policy::manage_offer(caller, operation, id)?;
    let schedule = calendar::schedule(caller, operation)?;
    let use_patients = may.patient_use();
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let offer = find_offer(state, &mut tx, caller, meta, &use_patients, id, true).await?;
    calendar::book_with(&schedule, caller, operation, offer.row().clinician_id)?;
    if offer.row().status != "PENDING" {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            format!("The offer is already {}", offer.row().status),
        ));
    }
    if offer.row().expires_at <= Utc::now() {
        let freed = waitlist_offers::expire(&mut tx, Which::Offer(id), "at_use").await?;
        for slot in &freed {
            auto_offer::offer_next(&mut tx, &slot.slot(), "offer_expired").await?;
        }
        tx.commit().await?;
        return Err(AppError::new(
            ErrorCode::OfferExpired,
            ErrorCode::OfferExpired.default_message(),
        ));
    }
    let appointment = find_appointment(
        state,
        &mut tx,
        caller,
        meta,
        &use_patients,
        offer.row().appointment_id,
        true,
    )
    .await?;
    if appointment.row().status != "HELD" {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            format!(
                "The offered appointment is {}; the slot is no longer held",
                appointment.row().status
            ),
        ));
    }
    Ok((tx, offer, appointment))
}

/// The units left on the appointment's authorization, if any.
async fn remaining(tx: &mut TenantTx, row: &AppointmentRow) -> Result<Option<i32>, AppError> {
    match row.authorization_id {
        Some(a) => Ok(Some(
            authorizations::balance(tx, a).await?.available_units(),
        )),
        None => Ok(None),
    }
}

/// Accept an offer
///
/// The held appointment becomes BOOKED and the entry BOOKED, before `expiresAt` (after it:
/// the hold and its units are released and the answer is 409 `OFFER_EXPIRED`). An offer that
/// is no longer PENDING: 409 `INVALID_STATE`. Audited `WAITLIST_OFFER_ACCEPT` and
/// `APPOINTMENT_CONFIRM`.
#[utoipa::path(
    post,
    path = "/{id}/accept",
    tag = "waitlist",
    params(("id" = Uuid, Path, description = "The offer's id")),
    responses(
        (status = 200, description = "Accepted; the appointment is booked", body = OfferOutcome),
        (status = 404, description = "No such offer in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "`OFFER_EXPIRED` or `INVALID_STATE`", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn accept_offer(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<WaitlistOfferId>,
) -> Result<AppJson<OfferOutcome>, AppError> {
    let (mut tx, offer, appointment) = open(&state, &caller, &meta, id, Decision::Accept).await?;
    let may = policy::manage_offer(&caller, "accept_offer", id)?;
    let method = offer.access().method;
    let booked = appointments::set_status(&mut tx, appointment.row().id, "BOOKED", None).await?;
    let decided = waitlist_offers::decide(&mut tx, &may, id, "ACCEPTED", None).await?;
    waitlist::set_status(&mut tx, &may, decided.entry_id, "BOOKED").await?;
    audit::record_many(
        &mut tx,
        &[
            AuditEvent::new(AuditAction::WaitlistOfferAccept)
                .by(caller.actor())
                .with_access_method(method)
                .with_entity("waitlist_offer", id)
                .with_patient(decided.patient_id)
                .with_details(json!({
                    "entryId": decided.entry_id,
                    "appointmentId": booked.id,
                }))
                .with_request(&meta),
            AuditEvent::new(AuditAction::AppointmentConfirm)
                .by(caller.actor())
                .with_access_method(method)
                .with_entity("appointment", booked.id)
                .with_patient(booked.patient_id)
                .with_details(
                    json!({ "from": "HELD", "to": booked.status, "via": "waitlist_offer" }),
                )
                .with_request(&meta),
        ],
    )
    .await?;
    let left = remaining(&mut tx, &booked).await?;
    let outcome = OfferOutcome {
        offer: Offer::new(&decided, &booked.status)?,
        remaining_units: left,
    };
    tx.commit().await?;
    Ok(AppJson(outcome))
}

/// The request body of a decline.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeclineOffer {
    /// Why: 1–500 characters.
    #[schema(min_length = 1, max_length = 500, example = "Time does not suit")]
    reason: String,
}

/// Decline an offer
///
/// The hold is released (the appointment CANCELLED, its units back through the ledger); the
/// entry keeps waiting. After `expiresAt`: 409 `OFFER_EXPIRED` (released all the same). Audited
/// `WAITLIST_OFFER_DECLINE` (and `APPOINTMENT_CANCEL`, `SESSION_CANCEL`).
#[utoipa::path(
    post,
    path = "/{id}/decline",
    tag = "waitlist",
    params(("id" = Uuid, Path, description = "The offer's id")),
    request_body = DeclineOffer,
    responses(
        (status = 200, description = "Declined; the slot is free again", body = OfferOutcome),
        (status = 400, description = "No reason (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such offer in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "`OFFER_EXPIRED` or `INVALID_STATE`", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn decline_offer(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<WaitlistOfferId>,
    AppJson(body): AppJson<DeclineOffer>,
) -> Result<AppJson<OfferOutcome>, AppError> {
    let reason = parse_name(&body.reason, 500).map_err(|e| AppError::invalid_field("reason", e))?;
    let (mut tx, offer, appointment) = open(&state, &caller, &meta, id, Decision::Decline).await?;
    let may = policy::manage_offer(&caller, "decline_offer", id)?;
    let method = offer.access().method;
    let row = appointment.row();
    let mut events = Vec::new();
    if let Some(session_id) = row.session_id {
        let Some(session) = sessions_units::lock(&mut tx, &may.patient_use(), session_id).await?
        else {
            return Err(AppError::Internal(anyhow::anyhow!(
                "the offer's session is gone"
            )));
        };
        let session = appointment.carry(session).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("the offer's session is another patient's"))
        })?;
        if crate::units::SessionStatus::parse(&session.row().status)
            .is_some_and(crate::units::SessionStatus::is_open)
        {
            let outcome = ledger::cancel(
                &mut tx,
                &session,
                "waitlist offer declined",
                Some(caller.user_id),
            )
            .await?
            .map_err(AppError::from)?;
            events.push(session_event(
                AuditAction::SessionCancel,
                &caller,
                method,
                session_id,
                row.patient_id,
                outcome.balance.available_units(),
                &meta,
            ));
        }
    }
    let cancelled = appointments::set_status(
        &mut tx,
        row.id,
        "CANCELLED",
        Some("waitlist offer declined"),
    )
    .await?;
    let decided = waitlist_offers::decide(&mut tx, &may, id, "DECLINED", Some(&reason)).await?;
    auto_offer::offer_next(
        &mut tx,
        &Slot {
            clinician_id: cancelled.clinician_id,
            start: cancelled.start_at,
            end: cancelled.end_at,
            service_code: cancelled.service_code.clone(),
        },
        "offer_declined",
    )
    .await?;
    events.push(
        AuditEvent::new(AuditAction::AppointmentCancel)
            .by(caller.actor())
            .with_access_method(method)
            .with_entity("appointment", cancelled.id)
            .with_patient(cancelled.patient_id)
            .with_details(
                json!({ "from": "HELD", "to": cancelled.status, "via": "waitlist_offer" }),
            )
            .with_request(&meta),
    );
    events.push(
        AuditEvent::new(AuditAction::WaitlistOfferDecline)
            .by(caller.actor())
            .with_access_method(method)
            .with_entity("waitlist_offer", id)
            .with_patient(decided.patient_id)
            .with_details(json!({ "entryId": decided.entry_id, "appointmentId": cancelled.id }))
            .with_request(&meta),
    );
    audit::record_many(&mut tx, &events).await?;
    let left = remaining(&mut tx, &cancelled).await?;
    let outcome = OfferOutcome {
        offer: Offer::new(&decided, &cancelled.status)?,
        remaining_units: left,
    };
    tx.commit().await?;
    Ok(AppJson(outcome))
}
