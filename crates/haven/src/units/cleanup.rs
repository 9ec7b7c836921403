//! Stale reservations: sessions still SCHEDULED or IN_PROGRESS long after they should have ended
//! (a client crashed between reserving and completing, or nobody closed the session). Their
//! units go back to the authorization, the session becomes CANCELLED, with one STALE_RELEASE
//! ledger row and one `STALE_RESERVATION_RELEASED` audit row each; the appointment that wraps
//! such a session (SPEC §6) is cancelled by the same statement.
//!
//! A session is stale when `start_time + reserved_units × unit_minutes + threshold` has passed
//! (threshold `HAVEN_STALE_THRESHOLD_MINUTES`, default 60).
//!
//! **Across organizations.** One narrow SECURITY DEFINER look-up
//! (`haven_units.organizations_with_open_sessions_before`) returns the ids of organizations with
//! open sessions older than the threshold, using the partial index of open sessions; then each
//! of those is cleaned in its own tenant transaction by one set-based statement
//! ([`sessions_units::RELEASE_STALE`]), under row-level security like any request. No function
//! writes across tenants, and the per-organization statement is the same one an ADMIN's
//! request runs.
//!
//! **One at a time.** Each organization's run holds a transaction-level advisory lock on
//! (`haven.stale_cleanup`, organization): the background job (every instance runs it, every
//! `HAVEN_STALE_CLEANUP_MINUTES`) skips an organization another instance is cleaning; the API and
//! the command line wait for it. The statement would be correct without the lock (a session
//! already closed is not matched again); the lock keeps instances from doing the work twice.

use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;

use crate::db::AppPool;
use crate::ids::OrganizationId;
use crate::store::sessions_units::{self, CleanupActor};

/// The JSON result (SPEC §5).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CleanupReport {
    /// Always true (failures are errors).
    pub success: bool,
    /// Sessions cancelled.
    #[schema(minimum = 0)]
    pub sessions_cleaned: i64,
    /// Units given back.
    #[schema(minimum = 0)]
    pub total_units_recovered: i64,
    /// The threshold used, in minutes.
    #[schema(minimum = 1, maximum = 10_080)]
    pub stale_threshold_minutes: i32,
}

/// Whether to wait for another run on the same organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Wait for it, then run (requests, the command line).
    Block,
    /// Skip the organization (the background job).
    Skip,
}

const LOCK_CLASS: &str = "haven.stale_cleanup";

/// Cleans one organization; `None` when skipped because another run holds it.
pub async fn clean_organization(
    pool: &AppPool,
    organization: OrganizationId,
    threshold_minutes: i32,
    actor: &CleanupActor<'_>,
    wait: Wait,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let mut tx = pool.begin_tenant(organization, actor.user_id).await?;
    let lock = match wait {
        Wait::Block => "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2)) IS NOT NULL",
        Wait::Skip => "SELECT pg_try_advisory_xact_lock(hashtext($1), hashtext($2))",
    };
    let locked: bool = sqlx::query_scalar(lock)
        .bind(LOCK_CLASS)
        .bind(organization.to_string())
        .fetch_one(tx.conn())
        .await?;
    if !locked {
        return Ok(None);
    }
    let released = sessions_units::release_stale(&mut tx, threshold_minutes, actor).await?;
    tx.commit().await?;
    Ok(Some(released))
}

/// Cleans one organization, or (`None`) every organization that has stale candidates.
pub async fn clean(
    pool: &AppPool,
    organization: Option<OrganizationId>,
    threshold_minutes: i32,
    actor: &CleanupActor<'_>,
    wait: Wait,
) -> Result<CleanupReport, sqlx::Error> {
    let organizations = match organization {
        Some(org) => vec![org],
        None => {
            sessions_units::organizations_with_stale_candidates(
                pool.platform().pool(),
                threshold_minutes,
            )
            .await?
        }
    };
    let mut report = CleanupReport {
        success: true,
        stale_threshold_minutes: threshold_minutes,
        ..CleanupReport::default()
    };
    for org in organizations {
        if let Some((sessions, units)) =
            clean_organization(pool, org, threshold_minutes, actor, wait).await?
        {
            report.sessions_cleaned += sessions;
            report.total_units_recovered += units;
        }
    }
    Ok(report)
}

/// The background job: every `every`, cleans every organization (skipping those another
/// instance is cleaning). The first run is one period after start.
pub fn spawn(pool: AppPool, every: Duration, threshold_minutes: i32) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        let actor = CleanupActor {
            user_id: None,
            role: None,
            request_id: None,
            trigger: "background",
        };
        loop {
            ticker.tick().await;
            match clean(&pool, None, threshold_minutes, &actor, Wait::Skip).await {
                Ok(report) if report.sessions_cleaned > 0 => tracing::info!(
                    sessions = report.sessions_cleaned,
                    units = report.total_units_recovered,
                    "released stale reservations"
                ),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %crate::telemetry::loggable(&error), "stale reservation cleanup failed")
                }
            }
        }
    })
}
