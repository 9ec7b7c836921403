//! Units for an appointment: the §5 session an appointment with an authorization wraps,
//! reserved through the ledger in the booking's own transaction.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::api::authorizations::lookup::missing;
use crate::audit::{self, AccessMethod, AuditAction, AuditEvent, RequestMeta};
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::ids::{AuthorizationId, TherapySessionId, UserId};
use crate::policy::patients::{OfPatient, PatientUse, Visible};
use crate::store::authorizations;
use crate::units::ledger::{self, Hold};

/// What the appointment's units are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Units {
    /// The authorization.
    pub(crate) authorization: AuthorizationId,
    /// Units asked for (`None`: the duration in the authorization's units, rounded up).
    pub(crate) expected: Option<i32>,
}

/// The session that now holds the units, and what is left.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reserved {
    pub(super) session: TherapySessionId,
    pub(super) remaining: i32,
}

/// Where the units go.
pub(super) struct Slot<'a> {
    pub(super) clinician: UserId,
    pub(super) start: DateTime<Utc>,
    pub(super) minutes: i64,
    pub(super) service_code: &'a str,
}

/// Reserves the units of `units` for an appointment of `patient` (already visible to the
/// caller) at `slot`: a SCHEDULED session with its RESERVE ledger row, audited
/// `SESSION_RESERVE`. Refusals are the ledger's (409) or name `authorizationId` (400/404).
pub(super) async fn reserve<P: OfPatient>(
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    may: &PatientUse,
    patient: &Visible<P>,
    units: Units,
    slot: &Slot<'_>,
) -> Result<Reserved, AppError> {
    let id = units.authorization;
    let Some(row) = authorizations::find(tx, may, id).await? else {
        return Err(missing(tx, caller, id).await?.into());
    };
    if row.patient_id != patient.patient_id() {
        return Err(AppError::invalid_field(
            "authorizationId",
            "belongs to another patient",
        ));
    }
    if row.service_code != slot.service_code {
        return Err(AppError::invalid_field(
            "authorizationId",
            "covers another service code",
        ));
    }
    let count = match units.expected {
        Some(n) => n,
        None => {
            let per = i64::from(row.unit_minutes.max(1));
            i32::try_from((slot.minutes + per - 1) / per).unwrap_or(i32::MAX)
        }
    };
    let held = match ledger::hold(tx, may, id, count, slot.start).await? {
        Hold::Held(held) => held,
        Hold::Missing => return Err(missing(tx, caller, id).await?.into()),
        Hold::Refused { refusal, .. } => return Err(refusal.into()),
    };
    let held = patient
        .carry(held)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("held units of another patient")))?;
    let method = patient.access().method;
    let outcome = ledger::record_reservation(
        tx,
        held,
        TherapySessionId::new(),
        Some(slot.clinician),
        slot.start,
        Some(caller.user_id),
    )
    .await?;
    let remaining = outcome.balance.available_units();
    audit::record(
        tx,
        &AuditEvent::new(AuditAction::SessionReserve)
            .by(caller.actor())
            .with_access_method(method)
            .with_entity("session", outcome.session.id)
            .with_patient(patient.patient_id())
            .with_details(json!({
                "authorizationId": id,
                "units": count,
                "remainingUnits": remaining,
            }))
            .with_request(meta),
    )
    .await?;
    if outcome.crossed_low_threshold {
        audit::record(
            tx,
            &ledger::low_units_event(&outcome.balance)
                .by(caller.actor())
                .with_access_method(method)
                .with_request(meta),
        )
        .await?;
    }
    Ok(Reserved {
        session: outcome.session.id,
        remaining,
    })
}

/// The session audit row of a ledger change made for an appointment (start or cancel).
pub(crate) fn session_event(
    action: AuditAction,
    caller: &Caller,
    method: AccessMethod,
    session: TherapySessionId,
    patient: crate::ids::PatientId,
    remaining: i32,
    meta: &RequestMeta,
) -> AuditEvent {
    AuditEvent::new(action)
        .by(caller.actor())
        .with_access_method(method)
        .with_entity("session", session)
        .with_patient(patient)
        .with_details(json!({ "remainingUnits": remaining, "via": "appointment" }))
        .with_request(meta)
}
