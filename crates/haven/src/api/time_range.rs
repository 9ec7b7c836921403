//! The `from` / `to` bounds of a list filtered by start time, shared by the lists that take
//! them (`/api/sessions`, `/api/appointments`).

use chrono::{DateTime, Days, Utc};

use crate::api::authorizations::parse_date;
use crate::domain::parse_instant;
use crate::http::error::AppError;

/// A bound of the start-time range: an RFC 3339 timestamp, or a date (`from`: its first instant;
/// `to`, with `end`: through its last, i.e. before the next day), in the years 2000–2100.
pub(crate) fn bound(field: &str, text: &str, end: bool) -> Result<DateTime<Utc>, AppError> {
    if let Ok(date) = parse_date(text) {
        let day = if end {
            date.checked_add_days(Days::new(1)).unwrap_or(date)
        } else {
            date
        };
        return Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    parse_instant(text).map_err(|_| {
        AppError::invalid_field(
            field,
            "must be a date (YYYY-MM-DD) or an RFC 3339 timestamp",
        )
    })
}
