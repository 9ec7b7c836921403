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

/// Appointments start on this grid, in minutes. Every IANA zone's offset from UTC is a multiple
/// of 15 minutes today, so a start on the UTC grid is on the local one too.
pub const START_GRID_MINUTES: i64 = 5;

/// Whether `start` is on the booking grid (whole minutes, a multiple of
/// [`START_GRID_MINUTES`]): the reason to show the client when it is not.
///
/// # Errors
/// The field's message when the start falls between grid lines.
pub fn check_start_grid(start: chrono::DateTime<chrono::Utc>) -> Result<(), String> {
    let on_grid = start.timestamp().rem_euclid(START_GRID_MINUTES * 60) == 0
        && start.timestamp_subsec_nanos() == 0;
    if on_grid {
        Ok(())
    } else {
        Err(format!(
            "must start on a {START_GRID_MINUTES}-minute boundary (09:05, not 09:07 or 09:05:30)"
        ))
    }
}

/// Whether a local wall time is on the booking grid (see [`check_start_grid`]).
///
/// # Errors
/// The field's message when the time falls between grid lines.
pub fn check_local_grid(at: chrono::NaiveTime) -> Result<(), String> {
    use chrono::Timelike;
    if i64::from(at.minute()) % START_GRID_MINUTES == 0 && at.second() == 0 {
        Ok(())
    } else {
        Err(format!(
            "must be on a {START_GRID_MINUTES}-minute boundary (09:05, not 09:07)"
        ))
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

#[cfg(test)]
mod tests {
    use super::{check_local_grid, check_start_grid};

    #[test]
    fn starts_are_on_the_five_minute_grid() {
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().expect("instant");
        assert!(check_start_grid(at("2027-03-15T13:05:00Z")).is_ok());
        assert!(check_start_grid(at("2027-03-15T13:00:00-05:00")).is_ok());
        assert!(check_start_grid(at("2027-03-15T13:07:00Z")).is_err());
        assert!(check_start_grid(at("2027-03-15T13:05:30Z")).is_err());
        assert!(check_start_grid(at("2027-03-15T13:05:00.5Z")).is_err());
        let local = |s: &str| chrono::NaiveTime::parse_from_str(s, "%H:%M").expect("time");
        assert!(check_local_grid(local("09:55")).is_ok());
        assert!(check_local_grid(local("09:58")).is_err());
    }
}
