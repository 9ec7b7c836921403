//! Scheduling (SPEC §6): clinicians' availability, time off, and appointments that may reserve
//! units. The database guarantees what it can (two exclusion constraints, see the migration
//! `20261207000401_scheduling.sql`); this module maps their names to [`ScheduleError`]s and
//! never passes PostgreSQL's message on (it names the other row's times and ids).

pub mod auto_offer;
pub mod booking;
pub mod holds;
pub mod offers;
pub mod wall_time;

use crate::units::ledger::Refusal;

/// Which of the calendar's exclusion constraints refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictWith {
    /// Another active appointment or block of the clinician (buffers included).
    Clinician,
    /// Another active appointment of the patient.
    Patient,
}

impl ConflictWith {
    /// The name the client sees in `details.conflictWith`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Clinician => "clinician",
            Self::Patient => "patient",
        }
    }
}

/// The clinician's constraint.
pub const CLINICIAN_CONSTRAINT: &str = "calendar_entries_clinician_no_overlap";
/// The patient's constraints (plain, and between appointments linked as concurrent).
pub const PATIENT_CONSTRAINTS: [&str; 2] = [
    "calendar_entries_patient_no_overlap",
    "calendar_entries_patient_concurrent_no_overlap",
];

/// The conflict an exclusion violation stands for, read from the constraint's name only.
#[must_use]
pub fn conflict_of(error: &sqlx::Error) -> Option<ConflictWith> {
    let db = error.as_database_error()?;
    // 23P01: exclusion_violation.
    if db.code().as_deref() != Some("23P01") {
        return None;
    }
    match db.constraint() {
        Some(CLINICIAN_CONSTRAINT) => Some(ConflictWith::Clinician),
        Some(name) if PATIENT_CONSTRAINTS.contains(&name) => Some(ConflictWith::Patient),
        _ => None,
    }
}

/// Whether `error` is a deadlock or a serialization failure: the transaction may be retried.
#[must_use]
pub fn is_retryable(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "40P01" || code == "40001")
}

/// Why a scheduling operation was refused (nothing was written), or failed.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The time overlaps another active entry.
    #[error("schedule conflict with the {}", .0.as_str())]
    Conflict(ConflictWith),
    /// The time is outside the clinician's availability.
    #[error("outside the clinician's availability")]
    OutsideAvailability,
    /// The hold has expired.
    #[error("the hold has expired")]
    HoldExpired,
    /// The appointment's status does not allow `action`.
    #[error("cannot {action} an appointment that is {status}")]
    InvalidState {
        /// Its status.
        status: String,
        /// What was attempted.
        action: &'static str,
    },
    /// The client's `expectedVersion` is not the appointment's.
    #[error("stale version")]
    StaleVersion,
    /// The unit ledger refused.
    #[error("the ledger refused")]
    Units(Refusal),
    /// The database failed (never an exclusion violation: those are [`Self::Conflict`]).
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for ScheduleError {
    fn from(error: sqlx::Error) -> Self {
        match conflict_of(&error) {
            Some(with) => Self::Conflict(with),
            None => Self::Database(error),
        }
    }
}

impl From<Refusal> for ScheduleError {
    fn from(refusal: Refusal) -> Self {
        Self::Units(refusal)
    }
}
