//! The daily job that flags drafts past their due time as overdue. An overdue draft stays a
//! draft: its author can still edit and sign it; the flag feeds the realtime `note.overdue`
//! event (through its `NOTE_OVERDUE` audit row) and, later, the charge holds.
//!
//! Set-based, like the hold expiry (`crate::scheduling::holds`): one SECURITY DEFINER look-up
//! finds the organizations with unflagged drafts past due (ids only, from a partial index), then
//! one statement per organization flags them all and writes their audit rows
//! ([`notes::mark_overdue`]), under a transaction-level advisory lock on (`haven.note_overdue`,
//! organization) taken with `pg_try_advisory_xact_lock`: an instance already on it makes the
//! others skip, so one instance at a time does the work.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::db::AppPool;
use crate::ids::OrganizationId;
use crate::store::notes;

/// How often the job runs.
pub const INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

const LOCK_CLASS: &str = "haven.note_overdue";

/// Flags one organization's overdue drafts unless another run holds it; `None` when skipped.
pub async fn mark_organization(
    pool: &AppPool,
    organization: OrganizationId,
) -> Result<Option<i64>, sqlx::Error> {
    let Some(mut tx) = pool.begin_exclusive(organization, LOCK_CLASS).await? else {
        return Ok(None);
    };
    let flagged = notes::mark_overdue(&mut tx).await?;
    tx.commit().await?;
    Ok(Some(flagged))
}

/// One run over every organization with overdue drafts; returns how many were flagged.
pub async fn mark_all(pool: &AppPool) -> Result<i64, sqlx::Error> {
    let mut total = 0;
    for org in notes::organizations_with_overdue_notes(pool.platform().pool()).await? {
        total += mark_organization(pool, org).await?.unwrap_or(0);
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
            match mark_all(&pool).await {
                Ok(flagged) if flagged > 0 => tracing::info!(flagged, "flagged overdue notes"),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %crate::telemetry::loggable(&error), "flagging overdue notes failed")
                }
            }
        }
    })
}
