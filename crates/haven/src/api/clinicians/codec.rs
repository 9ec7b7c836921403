//! The wire types of availability and blocks.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ids::{BlockId, UserId};
use crate::scheduling::wall_time::day_name;
use crate::store::availability::{AvailabilityRow, BlockRow, RuleRow};

/// A weekly rule as shown.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Days of the week, `MO` … `SU`.
    #[schema(example = json!(["MO", "TU"]))]
    days_of_week: Vec<&'static str>,
    /// Local start, `HH:MM`.
    #[schema(example = "09:00")]
    start_time: String,
    /// Local end, `HH:MM` (`24:00`: the end of the day).
    #[schema(example = "17:00")]
    end_time: String,
    /// The services these hours are for; absent: any.
    #[serde(skip_serializing_if = "Option::is_none")]
    service_codes: Option<Vec<String>>,
}

/// A clinician's availability.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    /// The clinician.
    clinician_id: UserId,
    /// The IANA zone the rules' wall times are in.
    time_zone: String,
    /// The weekly rules.
    rules: Vec<Rule>,
    /// Minutes kept free after each appointment.
    buffer_minutes: i32,
    /// First day the rules hold.
    effective_from: NaiveDate,
    /// Last day they hold (absent: open-ended).
    effective_to: Option<NaiveDate>,
    /// Time off that has not ended yet.
    blocks: Vec<Block>,
    /// Last changed.
    updated_at: DateTime<Utc>,
}

/// `{"availability": {...}}` (`null` when none is set).
#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityResponse {
    /// The availability.
    availability: Option<Availability>,
}

impl AvailabilityResponse {
    pub(super) fn new(
        row: Option<AvailabilityRow>,
        rules: Vec<RuleRow>,
        blocks: Vec<BlockRow>,
    ) -> Self {
        let availability = row.map(|row| Availability {
            clinician_id: row.clinician_id,
            time_zone: row.time_zone,
            rules: rules
                .into_iter()
                .map(|r| Rule {
                    days_of_week: r.days.into_iter().map(day_name).collect(),
                    start_time: r.start_time,
                    end_time: r.end_time,
                    service_codes: r.service_codes,
                })
                .collect(),
            buffer_minutes: row.buffer_minutes,
            effective_from: row.effective_from,
            effective_to: row.effective_to,
            blocks: blocks.into_iter().map(Block::from).collect(),
            updated_at: row.updated_at,
        });
        Self { availability }
    }
}

/// A time-off block.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    /// The block.
    id: BlockId,
    /// Whose.
    clinician_id: UserId,
    /// From (RFC 3339, UTC).
    start: DateTime<Utc>,
    /// Until, exclusive.
    end: DateTime<Utc>,
    /// Why.
    reason: Option<String>,
}

impl From<BlockRow> for Block {
    fn from(row: BlockRow) -> Self {
        Self {
            id: row.id,
            clinician_id: row.clinician_id,
            start: row.start_at,
            end: row.end_at,
            reason: row.reason,
        }
    }
}

/// `{"block": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlockResponse {
    /// The block.
    pub(super) block: Block,
}
