//! Waitlist offers that expire. A PENDING offer past `expires_at` is expired at use (accept and
//! decline answer OFFER_EXPIRED after releasing it; a new offer releases every expired one of
//! the practice first) and by this sweeper, every minute.
//!
//! Set-based, like the hold-expiry job ([`super::holds`]): one SECURITY DEFINER look-up names
//! the organizations with expired offers or entries (ids only, from partial indexes), then per
//! organization, in its own tenant transaction under row-level security, ONE statement expires
//! every offer, cancels its still-HELD appointment, cancels the appointment's session with one
//! RELEASE ledger row, gives the units back and writes one `WAITLIST_OFFER_EXPIRED` audit row
//! per offer ([`waitlist_offers::expire`]); a second marks entries past their 90 days EXPIRED;
//! with `waitlistAutoOffer: "sequential"` each freed slot is then offered to the next ranked
//! entry in the same transaction ([`auto_offer::offer_next`]).
//! Each organization's run holds a transaction-level advisory lock on
//! (`haven.waitlist_offer_expiry`, organization), taken with `pg_try_advisory_xact_lock`: an
//! instance already on it is skipped, so one instance at a time does the work.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::auto_offer;
use crate::db::AppPool;
use crate::ids::OrganizationId;
use crate::store::waitlist_offers::{self, Expired, Which};

/// How often the sweeper runs.
pub const INTERVAL: Duration = Duration::from_secs(60);

const LOCK_CLASS: &str = "haven.waitlist_offer_expiry";

/// What one organization's run released.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Offers expired.
    pub offers: i64,
    /// Units given back.
    pub units: i64,
    /// Entries past their 90 days marked EXPIRED.
    pub entries: u64,
    /// Freed slots offered to the next entry (`waitlistAutoOffer: "sequential"`).
    pub auto_offers: i64,
}

/// Expires one organization's offers and entries unless another run holds it; `None` when
/// skipped. Returns the released offers too (their slots, for the auto-offer).
pub async fn sweep_organization(
    pool: &AppPool,
    organization: OrganizationId,
) -> Result<Option<(Swept, Vec<Expired>)>, sqlx::Error> {
    let Some(mut tx) = pool.begin_exclusive(organization, LOCK_CLASS).await? else {
        return Ok(None);
    };
    let expired = waitlist_offers::expire(&mut tx, Which::All, "background").await?;
    let entries = waitlist_offers::expire_entries(&mut tx).await?;
    let mut auto_offers = 0;
    if let Some(may) = auto_offer::enabled(&mut tx).await? {
        for slot in &expired {
            if auto_offer::offer_to_next(&mut tx, &may, &slot.slot(), "offer_expired")
                .await?
                .is_some()
            {
                auto_offers += 1;
            }
        }
    }
    tx.commit().await?;
    let swept = Swept {
        offers: i64::try_from(expired.len()).unwrap_or(i64::MAX),
        units: expired.first().map_or(0, |e| e.released_units),
        entries,
        auto_offers,
    };
    Ok(Some((swept, expired)))
}

/// One run over every organization with expired offers or entries.
pub async fn sweep_all(pool: &AppPool) -> Result<Swept, sqlx::Error> {
    let mut total = Swept::default();
    for org in waitlist_offers::organizations_with_expired(pool.platform().pool()).await? {
        if let Some((swept, _)) = sweep_organization(pool, org).await? {
            total.offers += swept.offers;
            total.units += swept.units;
            total.entries += swept.entries;
            total.auto_offers += swept.auto_offers;
        }
    }
    Ok(total)
}

/// The background job: every `every`, expires every organization's offers and entries.
pub fn spawn(pool: AppPool, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match sweep_all(&pool).await {
                Ok(swept) if swept.offers > 0 || swept.entries > 0 => {
                    tracing::info!(
                        offers = swept.offers,
                        units = swept.units,
                        entries = swept.entries,
                        "expired waitlist offers and entries"
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %crate::telemetry::loggable(&error), "waitlist offer expiry failed")
                }
            }
        }
    })
}
