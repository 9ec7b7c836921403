//! Organizations (practices).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

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
    /// Hours after the service a clinical note is due.
    pub note_due_hours: i32,
}

/// The transaction's organization's settings.
pub async fn settings(
    tx: &mut TenantTx,
    _may: &ManageSettings,
) -> Result<SettingsRow, sqlx::Error> {
    let id = tx.organization_id();
    sqlx::query_as("SELECT time_zone, note_due_hours FROM organizations WHERE id = $1")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}

/// Sets the hours after the service a note is due (1–720), for notes written from now on.
pub async fn set_note_due_hours(
    tx: &mut TenantTx,
    _may: &ManageSettings,
    hours: i32,
) -> Result<SettingsRow, sqlx::Error> {
    let id = tx.organization_id();
    sqlx::query_as(
        "UPDATE organizations SET note_due_hours = $2, updated_at = now() WHERE id = $1 \
         RETURNING time_zone, note_due_hours",
    )
    .bind(id)
    .bind(hours)
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

/// Sets the transaction's organization's time zone (a name [`is_known_time_zone`] accepted).
pub async fn set_time_zone(
    tx: &mut TenantTx,
    _may: &ManageSettings,
    time_zone: &str,
) -> Result<SettingsRow, sqlx::Error> {
    let id = tx.organization_id();
    sqlx::query_as(
        "UPDATE organizations SET time_zone = $2, updated_at = now() WHERE id = $1 \
         RETURNING time_zone, note_due_hours",
    )
    .bind(id)
    .bind(time_zone)
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
