//! The daily job that re-evaluates every open charge's holds (an authorization cancelled or a
//! note entered in error since, a date now outside the period, ledger units re-derived).
//!
//! Set-based, like the overdue-notes job (`crate::notes::overdue`): one SECURITY DEFINER
//! look-up finds the organizations with open charges (ids only, from a partial index), then one
//! statement per organization re-evaluates them all ([`charges::reevaluate_all`]), under a
//! transaction-level advisory lock on (`haven.charge_holds`, organization) taken with
//! `pg_try_advisory_xact_lock`: an instance already on it makes the others skip.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::db::AppPool;
use crate::ids::OrganizationId;
use crate::store::charges;

/// How often the job runs.
pub const INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

const LOCK_CLASS: &str = "haven.charge_holds";

/// Re-evaluates one organization's open charges unless another run holds it; how many changed,
/// `None` when skipped.
pub async fn reevaluate_organization(
    pool: &AppPool,
    organization: OrganizationId,
) -> Result<Option<u64>, sqlx::Error> {
    let Some(mut tx) = pool.begin_exclusive(organization, LOCK_CLASS).await? else {
        return Ok(None);
    };
    let changed = charges::reevaluate_all(&mut tx).await?;
    tx.commit().await?;
    Ok(Some(changed))
}

/// One run over every organization with open charges; how many charges changed.
pub async fn reevaluate_all(pool: &AppPool) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    for org in charges::organizations_with_open_charges(pool.platform().pool()).await? {
        total += reevaluate_organization(pool, org).await?.unwrap_or(0);
    }
    Ok(total)
}

/// The background job: at start and then every `every`.
pub fn spawn(pool: AppPool, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match reevaluate_all(&pool).await {
                Ok(changed) if changed > 0 => tracing::info!(changed, "re-evaluated charge holds"),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %crate::telemetry::loggable(&error), "re-evaluating charge holds failed")
                }
            }
        }
    })
}
