//! Clinicians' availability (weekly rules in an IANA zone) and time-off blocks, as stored.
//! Blocks live in `calendar_entries` beside appointments, so the clinician's exclusion
//! constraint keeps both apart.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::FromRow;

use crate::db::TenantTx;
use crate::ids::{BlockId, UserId};
use crate::policy::capability::ManageCalendar;

/// A clinician's availability settings.
#[derive(Debug, Clone, FromRow)]
pub struct AvailabilityRow {
    /// Whose.
    pub clinician_id: UserId,
    /// The zone of the rules' wall times.
    pub time_zone: String,
    /// Minutes kept free after each appointment.
    pub buffer_minutes: i32,
    /// First day the rules hold.
    pub effective_from: NaiveDate,
    /// Last day they hold, if any.
    pub effective_to: Option<NaiveDate>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Rules of the same hours and services, their days gathered.
#[derive(Debug, Clone, FromRow)]
pub struct RuleRow {
    /// ISO days (1 = Monday).
    pub days: Vec<i16>,
    /// Local start, `HH:MM`.
    pub start_time: String,
    /// Local end, `HH:MM` (`24:00` for the end of the day).
    pub end_time: String,
    /// The services the hours are for (`None`: any).
    pub service_codes: Option<Vec<String>>,
}

/// A weekly rule to store.
#[derive(Debug, Clone)]
pub struct NewRule {
    /// ISO days (1 = Monday), without repeats.
    pub days: Vec<i16>,
    /// Local start, `HH:MM`.
    pub start_time: String,
    /// Local end, `HH:MM`, after the start.
    pub end_time: String,
    /// The services the hours are for (`None`: any).
    pub service_codes: Option<Vec<String>>,
}

/// The availability settings to store.
#[derive(Debug)]
pub struct NewAvailability<'a> {
    /// A zone PostgreSQL knows.
    pub time_zone: &'a str,
    /// 0–240.
    pub buffer_minutes: i32,
    /// First day.
    pub effective_from: NaiveDate,
    /// Last day.
    pub effective_to: Option<NaiveDate>,
    /// The weekly rules.
    pub rules: &'a [NewRule],
}

const COLUMNS: &str =
    "clinician_id, time_zone, buffer_minutes, effective_from, effective_to, updated_at";

/// Replaces the clinician's availability and rules (three statements, whatever the number of
/// rules).
pub async fn replace(
    tx: &mut TenantTx,
    may: &ManageCalendar,
    new: &NewAvailability<'_>,
    user: UserId,
) -> Result<AvailabilityRow, sqlx::Error> {
    let org = tx.organization_id();
    let row: AvailabilityRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO clinician_availability (organization_id, clinician_id, time_zone, \
             buffer_minutes, effective_from, effective_to, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (organization_id, clinician_id) DO UPDATE SET time_zone = EXCLUDED.time_zone, \
             buffer_minutes = EXCLUDED.buffer_minutes, effective_from = EXCLUDED.effective_from, \
             effective_to = EXCLUDED.effective_to, updated_by = EXCLUDED.updated_by, updated_at = now() \
         RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(may.clinician())
    .bind(new.time_zone)
    .bind(new.buffer_minutes)
    .bind(new.effective_from)
    .bind(new.effective_to)
    .bind(user)
    .fetch_one(tx.conn())
    .await?;
    sqlx::query("DELETE FROM availability_rules WHERE organization_id = $1 AND clinician_id = $2")
        .bind(org)
        .bind(may.clinician())
        .execute(tx.conn())
        .await?;
    // One row per (rule, day); the service codes travel as one JSON array per rule because
    // PostgreSQL has no array of arrays of different lengths.
    let mut days = Vec::new();
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    let mut codes = Vec::new();
    for rule in new.rules {
        for day in &rule.days {
            days.push(*day);
            starts.push(rule.start_time.clone());
            ends.push(rule.end_time.clone());
            codes.push(rule.service_codes.as_ref().map(|c| serde_json::json!(c)));
        }
    }
    sqlx::query(
        "INSERT INTO availability_rules (organization_id, id, clinician_id, day_of_week, \
             start_time, end_time, service_codes) \
         SELECT $1, haven_units.uuid_v7(), $2, r.day, r.start_time::time, r.end_time::time, \
                (SELECT array_agg(c ORDER BY c) FROM jsonb_array_elements_text(r.codes) c) \
         FROM unnest($3::smallint[], $4::text[], $5::text[], $6::jsonb[]) \
              AS r(day, start_time, end_time, codes)",
    )
    .bind(org)
    .bind(may.clinician())
    .bind(&days)
    .bind(&starts)
    .bind(&ends)
    .bind(&codes)
    .execute(tx.conn())
    .await?;
    Ok(row)
}

/// The clinician's availability settings, if set.
pub async fn find(
    tx: &mut TenantTx,
    may: &ManageCalendar,
) -> Result<Option<AvailabilityRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM clinician_availability \
         WHERE organization_id = $1 AND clinician_id = $2"
    )))
    .bind(org)
    .bind(may.clinician())
    .fetch_optional(tx.conn())
    .await
}

/// The clinician's rules, days of the same hours and services gathered.
pub async fn rules(tx: &mut TenantTx, may: &ManageCalendar) -> Result<Vec<RuleRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "SELECT array_agg(day_of_week ORDER BY day_of_week) AS days, \
                to_char(start_time, 'HH24:MI') AS start_time, \
                to_char(end_time, 'HH24:MI') AS end_time, service_codes \
         FROM availability_rules WHERE organization_id = $1 AND clinician_id = $2 \
         GROUP BY start_time, end_time, service_codes \
         ORDER BY min(day_of_week), start_time, end_time",
    )
    .bind(org)
    .bind(may.clinician())
    .fetch_all(tx.conn())
    .await
}

/// A time-off block.
#[derive(Debug, Clone, FromRow)]
pub struct BlockRow {
    /// The block.
    pub id: BlockId,
    /// Whose.
    pub clinician_id: UserId,
    /// From.
    pub start_at: DateTime<Utc>,
    /// Until (exclusive).
    pub end_at: DateTime<Utc>,
    /// Why (staff text, not PHI; never logged).
    pub reason: Option<String>,
}

const BLOCK_COLUMNS: &str = "id, clinician_id, start_at, end_at, reason";

/// Adds a block to the clinician's calendar. An overlap with an active appointment or block
/// fails with the clinician's exclusion violation (mapped by `crate::scheduling`).
pub async fn insert_block(
    tx: &mut TenantTx,
    may: &ManageCalendar,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    reason: &str,
    user: UserId,
) -> Result<BlockRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO calendar_entries (organization_id, id, kind, clinician_id, start_at, end_at, \
             busy_until, status, reason, created_by) \
         VALUES ($1, $2, 'BLOCK', $3, $4, $5, $5, 'ACTIVE', $6, $7) RETURNING {BLOCK_COLUMNS}"
    )))
    .bind(org)
    .bind(BlockId::new())
    .bind(may.clinician())
    .bind(start)
    .bind(end)
    .bind(reason)
    .bind(user)
    .fetch_one(tx.conn())
    .await
}

/// The clinician's active blocks that end after `after`.
pub async fn blocks(
    tx: &mut TenantTx,
    may: &ManageCalendar,
    after: DateTime<Utc>,
) -> Result<Vec<BlockRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {BLOCK_COLUMNS} FROM calendar_entries \
         WHERE organization_id = $1 AND clinician_id = $2 AND kind = 'BLOCK' AND status = 'ACTIVE' \
           AND end_at > $3 ORDER BY start_at LIMIT 500"
    )))
    .bind(org)
    .bind(may.clinician())
    .bind(after)
    .fetch_all(tx.conn())
    .await
}

/// Removes the clinician's active block `id`; `None` when they have no such block.
pub async fn remove_block(
    tx: &mut TenantTx,
    may: &ManageCalendar,
    id: BlockId,
) -> Result<Option<BlockRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE calendar_entries SET status = 'REMOVED', updated_at = now() \
         WHERE organization_id = $1 AND clinician_id = $2 AND id = $3 AND kind = 'BLOCK' \
           AND status = 'ACTIVE' RETURNING {BLOCK_COLUMNS}"
    )))
    .bind(org)
    .bind(may.clinician())
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// Which organization holds calendar entry `id` (an appointment or a block), if any.
pub async fn entry_organization(
    tx: &mut TenantTx,
    id: uuid::Uuid,
) -> Result<Option<crate::ids::OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.calendar_entry_organization($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}
