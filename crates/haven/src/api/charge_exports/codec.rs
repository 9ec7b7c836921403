//! The wire types of charge exports.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::pagination::Pagination;
use crate::ids::{ChargeExportId, UserId};
use crate::store::charge_exports::ExportRow;

/// An export record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportView {
    /// The export.
    id: ChargeExportId,
    /// `csv` or `837p-json`.
    format: String,
    /// First date of service.
    #[schema(value_type = String, format = Date)]
    from: NaiveDate,
    /// Last date of service (included).
    #[schema(value_type = String, format = Date)]
    to: NaiveDate,
    /// The payer, if one was named.
    payer_name: Option<String>,
    /// Lines exported.
    charge_count: i32,
    /// Of the original and replacement lines (voids bill nothing).
    total_charge_cents: i64,
    /// Who exported.
    created_by: Option<UserId>,
    /// When.
    created_at: DateTime<Utc>,
}

impl ExportView {
    /// The view of `row`.
    #[must_use]
    pub fn new(row: &ExportRow) -> Self {
        Self {
            id: row.id,
            format: row.format.clone(),
            from: row.from_date,
            to: row.to_date,
            payer_name: row.payer_name.clone(),
            charge_count: row.charge_count,
            total_charge_cents: row.total_charge_cents,
            created_by: row.created_by,
            created_at: row.created_at,
        }
    }
}

/// `{export}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportResponse {
    /// The export.
    pub export: ExportView,
}

/// A page of exports.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportList {
    /// Newest first.
    pub exports: Vec<ExportView>,
    /// The page.
    pub pagination: Pagination,
}
