//! Instants on the wire: RFC 3339 timestamps, read as UTC.

use chrono::{DateTime, Datelike, Utc};

/// An RFC 3339 timestamp between the years 2000 and 2100.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    let time = DateTime::parse_from_rfc3339(text.trim())
        .map_err(|_| "must be an RFC 3339 timestamp like 2027-01-31T09:00:00Z".to_owned())?
        .with_timezone(&Utc);
    if !(2000..=2100).contains(&time.year()) {
        return Err("must be between the years 2000 and 2100".into());
    }
    Ok(time)
}
