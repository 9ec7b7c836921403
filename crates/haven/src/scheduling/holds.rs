//! Holds that expire. A HELD appointment past `hold_expires_at` is treated as expired at use
//! (confirming it answers HOLD_EXPIRED; a booking of the same clinician or patient releases
//! it first, see [`expire_at_use`]) and released by a background job every minute.
//!
//! The job is set-based: one SECURITY DEFINER look-up finds the organizations with expired
//! holds (ids only, from the partial index of holds), then one statement per organization, in
//! its own tenant transaction, releases them all ([`appointments::expire_holds`]). Each
//! organization's run holds a transaction-level advisory lock on (`haven.hold_expiry`,
//! organization), taken with `pg_try_advisory_xact_lock`: another instance already on it is
//! skipped, so one instance at a time does the work.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::db::{AppPool, TenantTx};
use crate::ids::{OrganizationId, PatientId, UserId};
use crate::store::appointments;

/// How often the job runs.
pub const INTERVAL: Duration = Duration::from_secs(60);

const LOCK_CLASS: &str = "haven.hold_expiry";

/// Releases the expired holds of `clinician` and `patient`, in the booking's transaction,
/// before it takes their time.
pub async fn expire_at_use(
    tx: &mut TenantTx,
    clinician: UserId,
    patient: PatientId,
) -> Result<(), sqlx::Error> {
    appointments::expire_holds(tx, Some((clinician, patient)), "at_use")
        .await
        .map(drop)
}

/// Releases one organization's expired holds unless another run holds it; returns
/// (holds, units) released, `None` when skipped.
pub async fn expire_organization(
    pool: &AppPool,
    organization: OrganizationId,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let Some(mut tx) = pool.begin_exclusive(organization, LOCK_CLASS).await? else {
        return Ok(None);
    };
    let released = appointments::expire_holds(&mut tx, None, "background").await?;
    tx.commit().await?;
    Ok(Some(released))
}

/// One run over every organization with expired holds; returns (holds, units) released.
pub async fn expire_all(pool: &AppPool) -> Result<(i64, i64), sqlx::Error> {
    let mut total = (0, 0);
    for org in appointments::organizations_with_expired_holds(pool.platform().pool()).await? {
        if let Some((holds, units)) = expire_organization(pool, org).await? {
            total.0 += holds;
            total.1 += units;
        }
    }
    Ok(total)
}

/// The background job: every `every`, releases every organization's expired holds.
pub fn spawn(pool: AppPool, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match expire_all(&pool).await {
                Ok((holds, units)) if holds > 0 => {
                    tracing::info!(holds, units, "released expired appointment holds");
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %crate::telemetry::loggable(&error), "appointment hold expiry failed")
                }
            }
        }
    })
}
