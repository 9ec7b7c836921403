//! The expiry job: records `BTG_EXPIRED` once for every grant that ran out without being revoked.
//!
//! Access never depends on this job (every request compares `expires_at` with `now()`); it only
//! puts the lapse in the audit trail, so a review sees grant, uses and end in one place. Every
//! instance runs it; one at a time acts (a transaction-scoped advisory lock held for the pass),
//! the others skip that round. Inside the pass each organization is handled in its own tenant
//! transaction, where the grants are marked (`expiry_recorded_at`) and audited together: a
//! grant's lapse is recorded exactly once even if two passes ever overlapped.

use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::audit::{self, AccessMethod, AuditAction, AuditEvent};
use crate::db::AppPool;
use crate::ids::OrganizationId;
use crate::store::btg as store;

/// The advisory lock of one pass (hashed by PostgreSQL).
const LOCK: &str = "haven.btg_expiry";
/// Organizations handled per pass; the rest wait for the next one.
const ORGANIZATIONS_PER_PASS: i32 = 100;
/// Grants recorded per organization transaction.
const GRANTS_PER_TRANSACTION: i64 = 1000;
/// How often the background job runs.
pub const INTERVAL: Duration = Duration::from_secs(30);

/// One pass: records every lapsed grant not recorded yet. Returns how many it recorded (0 when
/// another instance holds the lock).
pub async fn record_expired(pool: &AppPool) -> Result<usize, sqlx::Error> {
    let mut lock = pool.platform().begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext($1))")
        .bind(LOCK)
        .fetch_one(&mut *lock)
        .await?;
    if !locked {
        return Ok(0);
    }
    let organizations: Vec<Uuid> =
        sqlx::query_scalar("SELECT haven_auth.btg_lapsed_organizations($1)")
            .bind(ORGANIZATIONS_PER_PASS)
            .fetch_all(&mut *lock)
            .await?;
    let mut recorded = 0;
    for organization in organizations {
        recorded += record_for(pool, OrganizationId::from_uuid(organization)).await?;
    }
    lock.commit().await?;
    Ok(recorded)
}

async fn record_for(pool: &AppPool, organization: OrganizationId) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin_tenant(organization, None).await?;
    let lapsed = store::mark_lapsed(&mut tx, GRANTS_PER_TRANSACTION).await?;
    let events: Vec<AuditEvent> = lapsed
        .iter()
        .map(|grant| {
            AuditEvent::new(AuditAction::BtgExpired)
                .with_access_method(AccessMethod::System)
                .with_entity("btg_grant", grant.id)
                .with_patient(grant.patient_id)
                .with_details(json!({
                    "grantId": grant.id,
                    "grantedToUserId": grant.granted_to_user_id,
                    "expiresAt": grant.expires_at,
                }))
        })
        .collect();
    audit::record_many(&mut tx, &events).await?;
    tx.commit().await?;
    if !lapsed.is_empty() {
        tracing::info!(%organization, grants = lapsed.len(), "recorded lapsed emergency access grants");
    }
    Ok(lapsed.len())
}

/// Runs [`record_expired`] every `period` until aborted.
pub fn spawn(pool: AppPool, period: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = record_expired(&pool).await {
                tracing::warn!(error = %crate::telemetry::loggable(&error), "recording lapsed emergency access grants failed; will retry");
            }
        }
    })
}
