//! The query parameters of the audit-log endpoints, checked.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::audit::AuditAction;
use crate::http::error::AppError;
use crate::store::audit_logs::AuditFilter;

/// `?action=&userId=&patientId=&from=&to=&page=&limit=&format=`. The filters are documented
/// here; `page`/`limit` (the list only) and `format` (the export only) by their endpoints.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events of this action.
    #[param(value_type = Option<AuditAction>)]
    action: Option<String>,
    /// Only events by this user.
    #[param(value_type = Option<Uuid>)]
    user_id: Option<String>,
    /// Only events concerning this patient.
    #[param(value_type = Option<Uuid>)]
    patient_id: Option<String>,
    /// Only events at or after this instant: an RFC 3339 timestamp, or a `YYYY-MM-DD` date
    /// (midnight UTC).
    #[param(example = "2026-01-01T00:00:00Z")]
    from: Option<String>,
    /// Only events before this instant (exclusive; after `from`): an RFC 3339 timestamp, or a
    /// `YYYY-MM-DD` date (midnight UTC).
    #[param(example = "2026-02-01")]
    to: Option<String>,
    #[param(ignore)]
    pub(super) page: Option<i64>,
    #[param(ignore)]
    pub(super) limit: Option<i64>,
    #[param(ignore)]
    pub(super) format: Option<String>,
}

/// An RFC 3339 instant, or a date (midnight UTC).
fn parse_instant(field: &str, text: &str) -> Result<DateTime<Utc>, AppError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| {
            AppError::invalid_field(field, "must be an RFC 3339 timestamp or a YYYY-MM-DD date")
        })
}

fn parse_uuid<T: std::str::FromStr>(field: &str, text: &str) -> Result<T, AppError> {
    text.parse()
        .map_err(|_| AppError::invalid_field(field, "must be a UUID"))
}

impl AuditQuery {
    /// The filter, or a 400 naming the bad parameter.
    pub fn filter(&self) -> Result<AuditFilter, AppError> {
        let action = self
            .action
            .as_deref()
            .map(|a| {
                a.parse::<AuditAction>()
                    .map(|a| a.as_str().to_owned())
                    .map_err(|()| AppError::invalid_field("action", "is not a known audit action"))
            })
            .transpose()?;
        let filter = AuditFilter {
            action,
            user_id: self
                .user_id
                .as_deref()
                .map(|u| parse_uuid("userId", u))
                .transpose()?,
            patient_id: self
                .patient_id
                .as_deref()
                .map(|p| parse_uuid("patientId", p))
                .transpose()?,
            from: self
                .from
                .as_deref()
                .map(|f| parse_instant("from", f))
                .transpose()?,
            to: self
                .to
                .as_deref()
                .map(|t| parse_instant("to", t))
                .transpose()?,
        };
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from >= to
        {
            return Err(AppError::invalid_field("to", "must be after from"));
        }
        Ok(filter)
    }
}
