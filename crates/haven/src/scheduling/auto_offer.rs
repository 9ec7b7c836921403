//! The practice's `waitlistAutoOffer: "sequential"`: a freed slot (a cancelled appointment, a
//! declined or an expired offer) is offered to the next ranked waitlist entry, once, by Haven
//! itself (audited with access method `system`).
//!
//! It runs inside the transaction that freed the slot, behind a savepoint: whatever refuses
//! (the slot taken meanwhile, the units gone, the one-pending-offer constraints because a human
//! offered the slot or the entry first) rolls back to the savepoint and the freeing commits
//! without an offer. Nothing is decided by a read: the exclusion constraints and the partial
//! unique indexes decide, so two sweepers and a human racing for one slot end with one offer.

use chrono::{Duration, Utc};
use serde_json::json;

use crate::audit::{self, AccessMethod, AuditAction, AuditEvent};
use crate::db::TenantTx;
use crate::ids::{AppointmentId, TherapySessionId, WaitlistOfferId};
use crate::policy::waitlist::{self as policy, AutoOffer};
use crate::scheduling::booking;
use crate::store::appointments::{self, NewAppointment};
use crate::store::waitlist::{self, EntryRow, Slot};
use crate::store::waitlist_offers::{self, NewOffer, OfferRow};
use crate::store::{authorizations, organizations};
use crate::units::ledger::{self, Hold};

/// How long an automatic offer holds the slot.
pub const TTL_MINUTES: i64 = 60;

const SAVEPOINT: &str = "waitlist_auto_offer";

/// Offers `slot` to the best-ranked entry that can take it when the practice's setting is
/// `sequential` and the slot is still ahead; `trigger` names what freed it (audit details).
/// Returns the offer, or `None` (setting off, nobody waiting, or refused — then nothing of the
/// attempt remains).
pub async fn offer_next(
    tx: &mut TenantTx,
    slot: &Slot,
    trigger: &str,
) -> Result<Option<OfferRow>, sqlx::Error> {
    match enabled(tx).await? {
        Some(may) => offer_to_next(tx, &may, slot, trigger).await,
        None => Ok(None),
    }
}

/// The auto-offer capability when the transaction's practice asked for it (read once by a
/// caller freeing many slots).
pub async fn enabled(tx: &mut TenantTx) -> Result<Option<AutoOffer>, sqlx::Error> {
    let mode = organizations::waitlist_auto_offer(tx).await?;
    Ok(policy::auto_offer(&mode))
}

/// As [`offer_next`], the practice's setting already read ([`enabled`]).
pub async fn offer_to_next(
    tx: &mut TenantTx,
    may: &AutoOffer,
    slot: &Slot,
    trigger: &str,
) -> Result<Option<OfferRow>, sqlx::Error> {
    if slot.start <= Utc::now() {
        return Ok(None);
    }
    let Some(entry) = waitlist::rank_for_slot(tx, may.manage(), slot, 1)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    sqlx::query(sqlx::AssertSqlSafe(format!("SAVEPOINT {SAVEPOINT}")))
        .execute(tx.conn())
        .await?;
    match hold_for(tx, may, slot, &entry, trigger).await {
        Ok(Some(offer)) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "RELEASE SAVEPOINT {SAVEPOINT}"
            )))
            .execute(tx.conn())
            .await?;
            Ok(Some(offer))
        }
        Ok(None) => {
            rollback(tx).await?;
            Ok(None)
        }
        Err(error) if refused(&error) => {
            rollback(tx).await?;
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

async fn rollback(tx: &mut TenantTx) -> Result<(), sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ROLLBACK TO SAVEPOINT {SAVEPOINT}"
    )))
    .execute(tx.conn())
    .await
    .map(drop)
}

/// A refusal by the constraints that decide races (the slot's or the patient's exclusion
/// constraints, the one-pending-offer indexes), a deadlock or a serialization failure.
fn refused(error: &sqlx::Error) -> bool {
    super::conflict_of(error).is_some()
        || super::is_retryable(error)
        || crate::store::is_unique_violation(error, waitlist_offers::ONE_PER_ENTRY)
        || crate::store::is_unique_violation(error, waitlist_offers::ONE_PER_SLOT)
}

/// The offer itself: the booking locks, the availability check, the entry's units, the HELD
/// appointment, the offer row and their audit rows. `Ok(None)`: not possible (outside
/// availability, the units refused).
async fn hold_for(
    tx: &mut TenantTx,
    may: &AutoOffer,
    slot: &Slot,
    entry: &EntryRow,
    trigger: &str,
) -> Result<Option<OfferRow>, sqlx::Error> {
    booking::lock(tx, &[slot.clinician_id], entry.patient_id).await?;
    if !appointments::within_availability(
        tx,
        slot.clinician_id,
        slot.start,
        slot.end,
        &slot.service_code,
    )
    .await?
    {
        return Ok(None);
    }
    let mut events = Vec::new();
    let units = match entry.authorization_id {
        None => None,
        Some(id) => {
            let use_patients = may.schedule().patient_use();
            let Some(row) = authorizations::find(tx, &use_patients, id).await? else {
                return Ok(None);
            };
            let per = i64::from(row.unit_minutes.max(1));
            let minutes = (slot.end - slot.start).num_minutes();
            let count = i32::try_from((minutes + per - 1) / per).unwrap_or(i32::MAX);
            let Hold::Held(held) = ledger::hold(tx, &use_patients, id, count, slot.start).await?
            else {
                return Ok(None);
            };
            let outcome = ledger::record_reservation(
                tx,
                may.visible(held),
                TherapySessionId::new(),
                Some(slot.clinician_id),
                slot.start,
                None,
            )
            .await?;
            events.push(
                AuditEvent::new(AuditAction::SessionReserve)
                    .with_access_method(AccessMethod::System)
                    .with_entity("session", outcome.session.id)
                    .with_patient(entry.patient_id)
                    .with_details(json!({
                        "authorizationId": id,
                        "units": count,
                        "remainingUnits": outcome.balance.available_units(),
                        "via": "waitlist_auto_offer",
                    })),
            );
            if outcome.crossed_low_threshold {
                events.push(
                    ledger::low_units_event(&outcome.balance)
                        .with_access_method(AccessMethod::System),
                );
            }
            Some((id, outcome.session.id))
        }
    };
    let expires_at = Utc::now() + Duration::minutes(TTL_MINUTES);
    let buffer_minutes = appointments::buffer_minutes(tx, slot.clinician_id).await?;
    let appointment = appointments::insert(
        tx,
        may.schedule(),
        &NewAppointment {
            id: AppointmentId::new(),
            patient_id: entry.patient_id,
            clinician_id: slot.clinician_id,
            service_code: slot.service_code.clone(),
            start: slot.start,
            end: slot.end,
            buffer_minutes,
            hold_expires_at: Some(expires_at),
            units,
            concurrent_with: None,
            overridden: false,
            created_by: None,
        },
    )
    .await?;
    let offer = waitlist_offers::insert(
        tx,
        may.manage(),
        &NewOffer {
            id: WaitlistOfferId::new(),
            entry_id: entry.id,
            patient_id: entry.patient_id,
            appointment_id: appointment.id,
            clinician_id: slot.clinician_id,
            start: slot.start,
            end: slot.end,
            expires_at,
            automatic: true,
            created_by: None,
        },
    )
    .await?;
    events.push(
        AuditEvent::new(AuditAction::AppointmentHold)
            .with_access_method(AccessMethod::System)
            .with_entity("appointment", appointment.id)
            .with_patient(entry.patient_id)
            .with_details(json!({
                "clinicianId": appointment.clinician_id,
                "start": appointment.start_at,
                "end": appointment.end_at,
                "serviceCode": appointment.service_code,
                "sessionId": appointment.session_id,
                "holdExpiresAt": appointment.hold_expires_at,
                "via": "waitlist_auto_offer",
            })),
    );
    events.push(
        AuditEvent::new(AuditAction::WaitlistOfferCreate)
            .with_access_method(AccessMethod::System)
            .with_entity("waitlist_offer", offer.id)
            .with_patient(offer.patient_id)
            .with_details(json!({
                "entryId": entry.id,
                "appointmentId": appointment.id,
                "clinicianId": offer.clinician_id,
                "start": offer.start_at,
                "expiresAt": offer.expires_at,
                "automatic": true,
                "trigger": trigger,
            })),
    );
    audit::record_many(tx, &events).await?;
    Ok(Some(offer))
}
