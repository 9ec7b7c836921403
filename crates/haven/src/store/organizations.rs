//! Organizations (practices).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

use crate::auth::dpop::Mode;
use crate::db::{AppPool, TenantTx};
use crate::ids::OrganizationId;
use crate::policy::capability::ManageSettings;

/// An organization as the API shows it.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    /// The organization.
    pub id: OrganizationId,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Creates the transaction's organization (the transaction is opened for the new id).
pub async fn insert(
    tx: &mut TenantTx,
    name: &str,
    require_mfa_for_admins: bool,
) -> Result<Organization, sqlx::Error> {
    let id = tx.organization_id();
    sqlx::query_as(
        "INSERT INTO organizations (id, name, require_mfa_for_admins) VALUES ($1, $2, $3) \
         RETURNING id, name, created_at",
    )
    .bind(id)
    .bind(name)
    .bind(require_mfa_for_admins)
    .fetch_one(tx.conn())
    .await
}

/// Whether the transaction's organization requires MFA of its admins.
pub async fn requires_mfa_for_admins(tx: &mut TenantTx) -> Result<bool, sqlx::Error> {
    let id = tx.organization_id();
    sqlx::query_scalar("SELECT require_mfa_for_admins FROM organizations WHERE id = $1")
        .bind(id)
        .fetch_optional(tx.conn())
        .await
        .map(|found| found.unwrap_or(false))
}

/// Every organization's id, the platform organization first (for commands that walk them all).
pub async fn all_ids(pool: &AppPool) -> Result<Vec<OrganizationId>, sqlx::Error> {
    let mut ids = vec![OrganizationId::PLATFORM];
    let mut offset = 0;
    loop {
        let (page, _) = pool.pre_auth().list_organizations(500, offset).await?;
        if page.is_empty() {
            break;
        }
        offset += i64::try_from(page.len()).unwrap_or(i64::MAX);
        ids.extend(page.into_iter().map(|(id, _, _)| id));
    }
    Ok(ids)
}

/// One page of all practices (for platform operators), and the total.
pub async fn list_all(
    pool: &AppPool,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Organization>, i64), sqlx::Error> {
    let (rows, total) = pool.pre_auth().list_organizations(limit, offset).await?;
    let total = match total {
        Some(total) => total,
        // Past the end: no row carried the total; ask for the first page's.
        None if offset > 0 => pool
            .pre_auth()
            .list_organizations(1, 0)
            .await?
            .1
            .unwrap_or(0),
        None => 0,
    };
    let organizations = rows
        .into_iter()
        .map(|(id, name, created_at)| Organization {
            id,
            name,
            created_at,
        })
        .collect();
    Ok((organizations, total))
}

/// The practice's settings as stored.
#[derive(Debug, Clone, FromRow)]
pub struct SettingsRow {
    /// Its IANA time zone.
    pub time_zone: String,
    /// Its DPoP mode (`disabled`, `optional`, `required`).
    pub dpop_mode: String,
    /// `off` or `sequential`: whether a freed slot is offered to the next waitlist entry.
    pub waitlist_auto_offer: String,
    /// Hours after the service a clinical note is due.
    pub note_due_hours: i32,
    /// Its business hours' start, `HH:MM`.
    pub business_hours_start: String,
    /// Its business hours' end, `HH:MM` (`24:00` possible).
    pub business_hours_end: String,
    /// Its business days (ISO, 1 = Monday).
    pub business_days: Vec<i16>,
}

/// What a settings update changes (`None`: unchanged).
#[derive(Debug, Default)]
pub struct SettingsChange {
    /// A time zone [`is_known_time_zone`] accepted.
    pub time_zone: Option<String>,
    /// A DPoP mode.
    pub dpop_mode: Option<Mode>,
    /// `off` or `sequential`.
    pub waitlist_auto_offer: Option<&'static str>,
    /// Hours after the service a note is due (1–720), for notes written from then on.
    pub note_due_hours: Option<i32>,
    /// Business hours [`crate::security::BusinessHours::check`] accepted.
    pub business_hours: Option<crate::security::BusinessHours>,
}

const SETTINGS_COLUMNS: &str = "time_zone, dpop_mode, waitlist_auto_offer, note_due_hours, \
    left(business_hours_start::text, 5) AS business_hours_start, \
    left(business_hours_end::text, 5) AS business_hours_end, business_days";

/// The transaction's organization's settings.
pub async fn settings(
    tx: &mut TenantTx,
    _may: &ManageSettings,
) -> Result<SettingsRow, sqlx::Error> {
    let id = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SETTINGS_COLUMNS} FROM organizations WHERE id = $1"
    )))
    .bind(id)
    .fetch_one(tx.conn())
    .await
}

/// The transaction's organization's time zone (the default zone of its clinicians' rules).
pub async fn time_zone(tx: &mut TenantTx) -> Result<String, sqlx::Error> {
    let id = tx.organization_id();
    sqlx::query_scalar("SELECT time_zone FROM organizations WHERE id = $1")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}

/// The transaction's organization's DPoP mode (read at login and refresh, before the caller
/// is known to be anyone: no capability).
pub async fn dpop_mode(tx: &mut TenantTx) -> Result<Mode, sqlx::Error> {
    let id = tx.organization_id();
    let stored: Option<String> =
        sqlx::query_scalar("SELECT dpop_mode FROM organizations WHERE id = $1")
            .bind(id)
            .fetch_optional(tx.conn())
            .await?;
    Ok(stored.map_or(Mode::Optional, |m| Mode::from_stored(&m)))
}

/// Changes the transaction's organization's settings in one statement; answers them all.
pub async fn update_settings(
    tx: &mut TenantTx,
    _may: &ManageSettings,
    change: &SettingsChange,
) -> Result<SettingsRow, sqlx::Error> {
    let id = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE organizations SET time_zone = coalesce($2, time_zone), \
             dpop_mode = coalesce($3, dpop_mode), \
             waitlist_auto_offer = coalesce($4, waitlist_auto_offer), \
             note_due_hours = coalesce($5, note_due_hours), \
             business_hours_start = coalesce($6::time, business_hours_start), \
             business_hours_end = coalesce($7::time, business_hours_end), \
             business_days = coalesce($8::smallint[], business_days), updated_at = now() \
         WHERE id = $1 RETURNING {SETTINGS_COLUMNS}"
    )))
    .bind(id)
    .bind(change.time_zone.as_deref())
    .bind(change.dpop_mode.map(Mode::as_str))
    .bind(change.waitlist_auto_offer)
    .bind(change.note_due_hours)
    .bind(change.business_hours.as_ref().map(|h| h.start.as_str()))
    .bind(change.business_hours.as_ref().map(|h| h.end.as_str()))
    .bind(change.business_hours.as_ref().map(|h| h.days.clone()))
    .fetch_one(tx.conn())
    .await
}

/// The transaction's organization's waitlist auto-offer mode (`off` or `sequential`).
pub async fn waitlist_auto_offer(tx: &mut TenantTx) -> Result<String, sqlx::Error> {
    let id = tx.organization_id();
    sqlx::query_scalar("SELECT waitlist_auto_offer FROM organizations WHERE id = $1")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}

/// Whether PostgreSQL knows IANA zone `name` (the zone `AT TIME ZONE` will convert with).
/// Abbreviations (`EST`) are not zone names and are refused.
pub async fn is_known_time_zone(tx: &mut TenantTx, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names WHERE name = $1)")
        .bind(name)
        .fetch_one(tx.conn())
        .await
}
