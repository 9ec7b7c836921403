//! The unit ledger's operations: reserve, start, complete, cancel and adjust. Each runs inside
//! the caller's tenant transaction and leaves it balanced (authorization, session and ledger
//! rows together); the handler adds the audit rows and commits, or drops the transaction and
//! nothing happened.
//!
//! A reservation is two steps so that the access decision sits between them without a separate
//! read: [`hold`] takes the units with one conditional UPDATE (and returns the patient), the
//! handler checks the caller may act for that patient, and [`record_reservation`] writes the
//! session and its ledger row. Only [`hold`] makes a [`Held`], so units cannot be recorded as
//! reserved without having been taken. When the UPDATE changes nothing, one follow-up read tells
//! which refusal it was.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::SessionStatus;
use super::minutes::{MAX_SESSION_MINUTES, fits_in_a_session};
use crate::audit::{AuditAction, AuditEvent};
use crate::db::TenantTx;
use crate::ids::{AuthorizationId, PatientId, TherapySessionId, UserId};
use crate::policy::capability::{ManageAuthorizations, OfPatient, PatientUse, Visible};
use crate::store::authorizations::{self, AuthorizationRow, Balance};
use crate::store::charges::{self, Rederived};
use crate::store::sessions_units::{self, NewSession, SessionRow};

/// Why the ledger refused an operation. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Fewer units available than requested.
    InsufficientUnits {
        /// Available.
        available: i32,
        /// Requested.
        requested: i32,
    },
    /// No units left at all.
    Exhausted,
    /// The session's day is outside the authorization's period.
    Expired {
        /// First day covered.
        start: NaiveDate,
        /// Last day covered.
        end: NaiveDate,
    },
    /// The authorization is cancelled.
    NotActive,
    /// More units than a session of at most a day can use (the field that asked for them).
    TooLong(&'static str),
    /// The session is not in a state that allows this.
    InvalidState {
        /// Its status.
        status: String,
        /// What was attempted.
        action: &'static str,
    },
    /// The adjustment would leave used units outside `0..=total`.
    InvalidAdjustment(&'static str),
    /// The session to correct draws on another authorization.
    NotOfAuthorization,
    /// The session's charge went out as a replacement already (a charge is exported once per
    /// frequency code): its units can no longer be corrected.
    AlreadyReplaced,
}

impl Refusal {
    /// The `outcome` label of `haven_unit_reservations_total`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::InsufficientUnits { .. } => "insufficient_units",
            Self::Exhausted => "exhausted",
            Self::Expired { .. } => "expired",
            Self::NotActive => "not_active",
            Self::TooLong(_) => "too_long",
            Self::InvalidState { .. } => "invalid_state",
            Self::InvalidAdjustment(_) => "invalid_adjustment",
            Self::NotOfAuthorization => "not_of_authorization",
            Self::AlreadyReplaced => "already_replaced",
        }
    }
}

/// The message when an adjustment would take used units below zero (SPEC §5).
pub const NEGATIVE_ADJUSTMENT: &str = "Adjustment would result in negative used units";
/// The message when an adjustment would take used units past the total (SPEC §5).
pub const EXCESSIVE_ADJUSTMENT: &str = "Adjustment would exceed total units";

/// Units taken for a reservation that is not recorded yet.
#[derive(Debug)]
#[must_use = "held units must be recorded, or the transaction dropped"]
pub struct Held {
    balance: Balance,
    units: i32,
}

impl OfPatient for Held {
    const ENTITY: &'static str = "authorization";
    fn entity_id(&self) -> uuid::Uuid {
        self.balance.id.as_uuid()
    }
    fn patient_id(&self) -> PatientId {
        self.balance.patient_id
    }
}

/// What [`hold`] found.
#[derive(Debug)]
pub enum Hold {
    /// The units are taken (in this transaction).
    Held(Held),
    /// The authorization exists (for this patient) but refused.
    Refused {
        /// The authorization, for the access decision before the refusal is shown.
        authorization: Box<AuthorizationRow>,
        /// Why.
        refusal: Refusal,
    },
    /// No such authorization in this organization.
    Missing,
}

/// The UTC day a session starting at `start` takes place on.
#[must_use]
pub fn session_day(start: DateTime<Utc>) -> NaiveDate {
    start.date_naive()
}

fn max_minutes() -> i32 {
    i32::try_from(MAX_SESSION_MINUTES).unwrap_or(i32::MAX)
}

/// Takes `units` from authorization `authorization_id` for a session starting at `start`, in one
/// conditional UPDATE.
///
/// Counts nothing: what a reservation came to is known only after the access decision and the
/// commit, so the handler counts `haven_unit_reservations_total` then.
pub async fn hold(
    tx: &mut TenantTx,
    may: &PatientUse,
    authorization_id: AuthorizationId,
    units: i32,
    start: DateTime<Utc>,
) -> Result<Hold, sqlx::Error> {
    let day = session_day(start);
    if let Some(balance) =
        authorizations::take_for_session(tx, authorization_id, units, day, max_minutes()).await?
    {
        return Ok(Hold::Held(Held { balance, units }));
    }
    let Some(row) = authorizations::find(tx, may, authorization_id).await? else {
        return Ok(Hold::Missing);
    };
    Ok(Hold::Refused {
        refusal: why_not(&row, units, day),
        authorization: Box::new(row),
    })
}

/// Which condition of the reservation's UPDATE failed, most fundamental first.
fn why_not(row: &AuthorizationRow, units: i32, day: NaiveDate) -> Refusal {
    let unit_minutes = u32::try_from(row.unit_minutes).unwrap_or(u32::MAX);
    if !fits_in_a_session(u32::try_from(units).unwrap_or(u32::MAX), unit_minutes) {
        return Refusal::TooLong("expectedUnits");
    }
    if day < row.start_date || day > row.end_date {
        return Refusal::Expired {
            start: row.start_date,
            end: row.end_date,
        };
    }
    if row.status == "CANCELLED" {
        return Refusal::NotActive;
    }
    let available = row.available_units();
    if available <= 0 {
        return Refusal::Exhausted;
    }
    Refusal::InsufficientUnits {
        available,
        requested: units,
    }
}

/// Takes `per` units for each of `count` sessions from `first` to `last` of authorization `row`
/// (already found and checked to be the patient's) at once: the balance left, or why the
/// authorization cannot cover them all (nothing taken). Counts nothing: the handler counts
/// `haven_unit_reservations_total` once the answer is final.
pub async fn hold_series(
    tx: &mut TenantTx,
    row: &AuthorizationRow,
    per: i32,
    count: i32,
    days: (NaiveDate, NaiveDate),
) -> Result<Result<Balance, Refusal>, sqlx::Error> {
    if let Some(balance) =
        authorizations::take_for_series(tx, row.id, per, count, days, max_minutes()).await?
    {
        return Ok(Ok(balance));
    }
    let day = if days.0 < row.start_date {
        days.0
    } else {
        days.1
    };
    let refusal = match why_not(row, per, day) {
        Refusal::InsufficientUnits { available, .. } => Refusal::InsufficientUnits {
            available,
            requested: per.saturating_mul(count),
        },
        Refusal::Exhausted if row.available_units() > 0 => Refusal::InsufficientUnits {
            available: row.available_units(),
            requested: per.saturating_mul(count),
        },
        other => other,
    };
    Ok(Err(refusal))
}

/// A change that took units, with what it leaves.
#[derive(Debug)]
pub struct Outcome {
    /// The session after the change.
    pub session: SessionRow,
    /// The authorization after the change.
    pub balance: Balance,
    /// Whether this change took the authorization below its low-units threshold.
    pub crossed_low_threshold: bool,
    /// The charge a completion made (none for other transitions, or a completion of 0 units).
    pub charge: Option<charges::ChargeRow>,
}

/// Records the reservation of [`Held`] units, once the caller's access to its patient is
/// established: the SCHEDULED session and its RESERVE row.
pub async fn record_reservation(
    tx: &mut TenantTx,
    held: Visible<Held>,
    id: TherapySessionId,
    clinician_id: Option<UserId>,
    start: DateTime<Utc>,
    user: Option<UserId>,
) -> Result<Outcome, sqlx::Error> {
    let held = held.into_row();
    let session = sessions_units::insert_reserved(
        tx,
        &NewSession {
            id,
            authorization_id: held.balance.id,
            patient_id: held.balance.patient_id,
            clinician_id,
            start_time: start,
            reserved_units: held.units,
            unit_minutes: held.balance.unit_minutes,
            created_by: user,
        },
    )
    .await?;
    Ok(Outcome {
        crossed_low_threshold: held.balance.crossed_low_threshold(held.units),
        charge: None,
        balance: held.balance,
        session,
    })
}

fn status_of(session: &SessionRow) -> SessionStatus {
    SessionStatus::parse(&session.status).unwrap_or(SessionStatus::Cancelled)
}

fn invalid(session: &SessionRow, action: &'static str) -> Refusal {
    Refusal::InvalidState {
        status: session.status.clone(),
        action,
    }
}

/// SCHEDULED → IN_PROGRESS. `session` must have been locked ([`sessions_units::lock`]).
pub async fn start(
    tx: &mut TenantTx,
    session: &Visible<SessionRow>,
) -> Result<Result<Outcome, Refusal>, sqlx::Error> {
    let session = session.row();
    if status_of(session) != SessionStatus::Scheduled {
        return Ok(Err(invalid(session, "start")));
    }
    let updated = sessions_units::mark_started(tx, session.id).await?;
    let balance = authorizations::balance(tx, session.authorization_id).await?;
    Ok(Ok(Outcome {
        session: updated,
        balance,
        crossed_low_threshold: false,
        charge: None,
    }))
}

/// Open → COMPLETED with `actual_units`: unused units are released; units beyond the
/// reservation are taken atomically, or the completion is refused with INSUFFICIENT_UNITS.
/// `session` must have been locked.
pub async fn complete(
    tx: &mut TenantTx,
    visible: &Visible<SessionRow>,
    actual_units: i32,
    actual_minutes: Option<i32>,
    user: Option<UserId>,
) -> Result<Result<Outcome, Refusal>, sqlx::Error> {
    let session = visible.row();
    if !status_of(session).is_open() {
        return Ok(Err(invalid(session, "complete")));
    }
    let unit_minutes = u32::try_from(session.unit_minutes).unwrap_or(u32::MAX);
    if !fits_in_a_session(
        u32::try_from(actual_units).unwrap_or(u32::MAX),
        unit_minutes,
    ) {
        return Ok(Err(Refusal::TooLong("actualUnits")));
    }
    let extra = actual_units - session.reserved_units;
    let balance = if extra > 0 {
        match authorizations::take_extra(tx, session.authorization_id, extra).await? {
            Some(balance) => balance,
            None => {
                let row =
                    authorizations::find(tx, &visible.patient_use(), session.authorization_id)
                        .await?;
                return Ok(Err(match row {
                    Some(row) if row.status == "CANCELLED" => Refusal::NotActive,
                    Some(row) => Refusal::InsufficientUnits {
                        available: row.available_units(),
                        requested: extra,
                    },
                    None => Refusal::NotActive,
                }));
            }
        }
    } else if extra < 0 {
        authorizations::give_back(tx, session.authorization_id, -extra).await?
    } else {
        authorizations::balance(tx, session.authorization_id).await?
    };
    let updated =
        sessions_units::mark_completed(tx, session.id, actual_units, actual_minutes, user).await?;
    // Its charge, in the same transaction: units from the ledger rows just written.
    let charge = charges::create_for_session(tx, visible).await?;
    Ok(Ok(Outcome {
        session: updated,
        crossed_low_threshold: balance.crossed_low_threshold(extra),
        charge,
        balance,
    }))
}

/// Open → CANCELLED: the reserved units go back. `session` must have been locked.
pub async fn cancel(
    tx: &mut TenantTx,
    session: &Visible<SessionRow>,
    reason: &str,
    user: Option<UserId>,
) -> Result<Result<Outcome, Refusal>, sqlx::Error> {
    let session = session.row();
    if !status_of(session).is_open() {
        return Ok(Err(invalid(session, "cancel")));
    }
    let updated = sessions_units::mark_cancelled(tx, session.id, reason, user).await?;
    let balance =
        authorizations::give_back(tx, session.authorization_id, session.reserved_units).await?;
    Ok(Ok(Outcome {
        session: updated,
        balance,
        crossed_low_threshold: false,
        charge: None,
    }))
}

/// Adds `adjustment` to the authorization's used units (either sign), with its ADJUST row, if
/// the result stays within `0..=total` and covers the units open sessions hold (they give them
/// back later, which would otherwise drive used units negative). Returns the balance and whether it crossed the
/// low-units threshold.
pub async fn adjust(
    tx: &mut TenantTx,
    _may: &ManageAuthorizations,
    authorization: &Visible<AuthorizationRow>,
    adjustment: i32,
    reason: &str,
    user: Option<UserId>,
) -> Result<Result<(Balance, bool), Refusal>, sqlx::Error> {
    let authorization = authorization.row();
    let Some(balance) = authorizations::adjust(tx, authorization.id, adjustment).await? else {
        // Raising can only pass the total; lowering can only go below what is held (or 0).
        let message = if adjustment > 0 {
            EXCESSIVE_ADJUSTMENT
        } else {
            NEGATIVE_ADJUSTMENT
        };
        return Ok(Err(Refusal::InvalidAdjustment(message)));
    };
    sessions_units::record_adjustment(tx, authorization.id, None, adjustment, user, reason).await?;
    Ok(Ok((balance, balance.crossed_low_threshold(adjustment))))
}

/// The message when a correction would take a session's units below zero.
pub const NEGATIVE_SESSION_UNITS: &str = "Adjustment would result in negative session units";

/// What a correction of a session's units did.
#[derive(Debug)]
pub struct Correction {
    /// The authorization after it.
    pub balance: Balance,
    /// Whether it took the authorization below its low-units threshold.
    pub crossed_low_threshold: bool,
    /// The session's net units in the ledger before and after.
    pub units: (i32, i32),
    /// What became of the session's charge.
    pub charge: Rederived,
}

/// Corrects what completed session `session` (locked, of `authorization`) consumed by
/// `adjustment` units: one ADJUST row naming the session, within the authorization's bounds as
/// [`adjust`], and the session's charge re-derived from the ledger in the same transaction.
/// Refused (nothing written that the caller commits) when the session is of another
/// authorization, not COMPLETED, would go below 0 units or past a day's, or its charge was
/// already replaced once after export.
pub async fn correct(
    tx: &mut TenantTx,
    may: &ManageAuthorizations,
    authorization: &Visible<AuthorizationRow>,
    session: &Visible<SessionRow>,
    adjustment: i32,
    reason: &str,
    user: Option<UserId>,
) -> Result<Result<Correction, Refusal>, sqlx::Error> {
    let row = session.row();
    if row.authorization_id != authorization.row().id {
        return Ok(Err(Refusal::NotOfAuthorization));
    }
    if status_of(row) != SessionStatus::Completed {
        return Ok(Err(invalid(row, "correct")));
    }
    let before = sessions_units::ledger_units(tx, row.id).await?;
    let after = before.saturating_add(adjustment);
    if after < 0 {
        return Ok(Err(Refusal::InvalidAdjustment(NEGATIVE_SESSION_UNITS)));
    }
    let unit_minutes = u32::try_from(row.unit_minutes).unwrap_or(u32::MAX);
    if !fits_in_a_session(u32::try_from(after).unwrap_or(u32::MAX), unit_minutes) {
        return Ok(Err(Refusal::TooLong("adjustment")));
    }
    let Some(balance) = authorizations::adjust(tx, row.authorization_id, adjustment).await? else {
        let message = if adjustment > 0 {
            EXCESSIVE_ADJUSTMENT
        } else {
            NEGATIVE_ADJUSTMENT
        };
        return Ok(Err(Refusal::InvalidAdjustment(message)));
    };
    sessions_units::record_adjustment(
        tx,
        row.authorization_id,
        Some(row.id),
        adjustment,
        user,
        reason,
    )
    .await?;
    let charge = charges::rederive_for_session(tx, may, session).await?;
    if let Rederived::AlreadyReplaced(_) = charge {
        return Ok(Err(Refusal::AlreadyReplaced));
    }
    Ok(Ok(Correction {
        crossed_low_threshold: balance.crossed_low_threshold(adjustment),
        balance,
        units: (before, after),
        charge,
    }))
}

/// The `AUTHORIZATION_LOW_UNITS` event of a crossing (add the actor and request).
#[must_use]
pub fn low_units_event(balance: &Balance) -> AuditEvent {
    AuditEvent::new(AuditAction::AuthorizationLowUnits)
        .with_entity("authorization", balance.id)
        .with_patient(balance.patient_id)
        .with_details(json!({
            "availableUnits": balance.available_units(),
            "totalUnits": balance.total_units,
            "lowUnitsThreshold": balance.low_units_threshold,
        }))
}
