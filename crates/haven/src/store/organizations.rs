//! Organizations (practices).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

use crate::db::{AppPool, TenantTx};
use crate::ids::OrganizationId;

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
