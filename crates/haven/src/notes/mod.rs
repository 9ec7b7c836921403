//! Clinical notes (SPEC §6 "Clinical notes"): formats and their sections, encrypted content
//! bound to its note and version, signatures that lock a note for good, addenda, supervision,
//! and the daily job that flags overdue drafts.
//!
//! The database does the locking (triggers of `20261207000601_clinical_notes.sql` refuse any
//! change to a non-draft's content for every role); the code checks first, under the note's row
//! lock, and maps the trigger's SQLSTATE `HN001` to [`NoteError::Locked`] should a writer ever
//! get past it.

pub mod content;
pub mod format;
pub mod overdue;

use crate::phi::PhiError;

/// The SQLSTATE the note triggers raise.
pub const LOCKED_SQLSTATE: &str = "HN001";

/// Why a note operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    /// The note is no longer a draft (409 `NOTE_LOCKED`).
    #[error("the note is locked")]
    Locked,
    /// `expectedVersion` is not the note's version (409 `CONFLICT`).
    #[error("the note has changed")]
    StaleVersion,
    /// Not allowed in the note's status (409 `INVALID_STATE`).
    #[error("cannot {action} a note that is {status}")]
    InvalidState {
        /// The note's status.
        status: &'static str,
        /// What was tried.
        action: &'static str,
    },
    /// Required sections are missing (422 `VALIDATION_ERROR` naming them).
    #[error("required sections are missing")]
    Incomplete(Vec<&'static str>),
    /// Content could not be encrypted or decrypted.
    #[error(transparent)]
    Phi(#[from] PhiError),
    /// The database failed.
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for NoteError {
    fn from(error: sqlx::Error) -> Self {
        if is_locked(&error) {
            Self::Locked
        } else {
            Self::Database(error)
        }
    }
}

/// Whether `error` is a note trigger's refusal.
#[must_use]
pub fn is_locked(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == LOCKED_SQLSTATE)
}
