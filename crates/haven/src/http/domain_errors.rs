//! The domain's errors, as the client sees them: each module below `http` returns its own
//! error type, and this file is the one place that turns them into the envelope.

use super::error::{AppError, Details, ErrorCode};
use crate::accounts::AccountError;
use crate::charges::ChargeError;
use crate::notes::NoteError;
use crate::scheduling::{ConflictWith, ScheduleError};
use crate::units::ledger::Refusal;
use crate::units::minutes::MAX_SESSION_MINUTES;

impl From<Refusal> for AppError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::InsufficientUnits {
                available,
                requested,
            } => AppError::new(
                ErrorCode::InsufficientUnits,
                format!("Insufficient units: {available} available, {requested} requested"),
            ),
            Refusal::Exhausted => AppError::new(
                ErrorCode::AuthorizationExhausted,
                "The authorization has no units left",
            ),
            Refusal::Expired { start, end } => AppError::new(
                ErrorCode::AuthorizationExpired,
                format!("The session date is outside the authorization period ({start} to {end})"),
            ),
            Refusal::NotActive => AppError::new(
                ErrorCode::AuthorizationNotActive,
                "The authorization is not active",
            ),
            Refusal::TooLong(field) => AppError::invalid_field(
                field,
                format!("a session may use at most {MAX_SESSION_MINUTES} minutes of units"),
            ),
            Refusal::InvalidState { status, action } => AppError::new(
                ErrorCode::InvalidState,
                format!("Cannot {action} a session that is {status}"),
            ),
            Refusal::InvalidAdjustment(message) => {
                AppError::new(ErrorCode::InvalidAdjustment, message)
            }
            Refusal::NotOfAuthorization => {
                AppError::invalid_field("sessionId", "must be a session of this authorization")
            }
            Refusal::AlreadyReplaced => AppError::new(
                ErrorCode::InvalidState,
                "The session's charge was already exported as a replacement; \
                 its units can no longer be corrected",
            ),
        }
    }
}

impl From<AccountError> for AppError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Invalid { message, details } => Self::validation(message, details),
            AccountError::EmailTaken => {
                Self::new(ErrorCode::Conflict, "A user with this email already exists")
            }
            AccountError::Hashing(cause) => {
                Self::Internal(anyhow::anyhow!("hashing a password: {cause}"))
            }
            AccountError::Database(error) => error.into(),
        }
    }
}

impl From<ScheduleError> for AppError {
    fn from(error: ScheduleError) -> Self {
        match error {
            ScheduleError::Conflict(with) => Self::with_details(
                ErrorCode::ScheduleConflict,
                match with {
                    ConflictWith::Clinician => {
                        "The clinician has another appointment or time off then"
                    }
                    ConflictWith::Patient => "The patient has another appointment then",
                },
                Details::from([("conflictWith".to_owned(), with.as_str().to_owned())]),
            ),
            ScheduleError::OutsideAvailability => Self::new(
                ErrorCode::OutsideAvailability,
                ErrorCode::OutsideAvailability.default_message(),
            ),
            ScheduleError::HoldExpired => Self::new(
                ErrorCode::HoldExpired,
                ErrorCode::HoldExpired.default_message(),
            ),
            ScheduleError::InvalidState { status, action } => Self::new(
                ErrorCode::InvalidState,
                format!("Cannot {action} an appointment that is {status}"),
            ),
            ScheduleError::StaleVersion => Self::new(
                ErrorCode::Conflict,
                "The appointment has changed since expectedVersion; read it again",
            ),
            ScheduleError::Units(refusal) => refusal.into(),
            ScheduleError::Database(error) => error.into(),
        }
    }
}

impl From<NoteError> for AppError {
    fn from(error: NoteError) -> Self {
        match error {
            NoteError::Locked => Self::new(
                ErrorCode::NoteLocked,
                ErrorCode::NoteLocked.default_message(),
            ),
            NoteError::StaleVersion => Self::new(
                ErrorCode::Conflict,
                "The note has changed since expectedVersion; read it again",
            ),
            NoteError::InvalidState { status, action } => Self::new(
                ErrorCode::InvalidState,
                format!("Cannot {action} a note that is {status}"),
            ),
            NoteError::Incomplete(missing) => Self::with_details(
                ErrorCode::Incomplete,
                format!("Required sections are missing: {}", missing.join(", ")),
                missing
                    .iter()
                    .map(|name| (format!("sections.{name}"), "is required to sign".to_owned()))
                    .collect(),
            ),
            NoteError::Phi(cause) => Self::Internal(anyhow::anyhow!("note content: {cause}")),
            NoteError::Database(error) => error.into(),
        }
    }
}

impl From<ChargeError> for AppError {
    fn from(error: ChargeError) -> Self {
        match error {
            ChargeError::StaleVersion => Self::new(
                ErrorCode::Conflict,
                "The charge has changed since expectedVersion; read it again",
            ),
            ChargeError::InvalidState { status, action } => Self::new(
                ErrorCode::InvalidState,
                format!("Cannot {action} a charge that is {status}"),
            ),
            ChargeError::OverlappingFees => Self::with_details(
                ErrorCode::Conflict,
                "Two entries of one payer, CPT code and modifiers start on the same day",
                [(
                    "entries".to_owned(),
                    "overlapping rates for one payer, CPT code and modifiers".to_owned(),
                )]
                .into_iter()
                .collect(),
            ),
            ChargeError::Database(error) => error.into(),
        }
    }
}
