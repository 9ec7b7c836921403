//! The tailer: reads each organization's newly sealed audit rows and hands their events to the
//! hub (SPEC §8: events come from the sealed chain; requests write nothing for them).
//!
//! It tails only the organizations with a socket on this instance, through two narrow SECURITY
//! DEFINER look-ups (`haven_auth.realtime_heads`, `haven_auth.realtime_feed`) that return chain
//! heads and the fields of thin events, nothing else. An organization is first read from its
//! head at that moment: what came before is the sockets' own replay (`since`).

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use super::events::{FeedRow, Signal, mapped_actions};
use super::hub::Hub;
use crate::ids::OrganizationId;
use crate::store::realtime as store;

/// How often the tailer looks for new sealed rows (the sealer itself runs about as often).
pub const INTERVAL: Duration = Duration::from_millis(250);

/// Rows read per organization per statement.
const BATCH: i32 = 500;

/// Where the tailer is in each organization's chain.
#[derive(Debug, Default)]
pub struct Tailer {
    cursors: HashMap<OrganizationId, i64>,
    actions: Vec<&'static str>,
}

impl Tailer {
    /// A tailer at no organization yet.
    #[must_use]
    pub fn new() -> Self {
        Self {
            cursors: HashMap::new(),
            actions: mapped_actions(),
        }
    }

    /// One round: every organization with a socket on `hub` is read up to its head, and its
    /// events are published in sequence order.
    pub async fn run_once(&mut self, pool: &PgPool, hub: &Hub) -> Result<(), sqlx::Error> {
        let organizations = hub.organizations();
        self.cursors.retain(|org, _| organizations.contains(org));
        if organizations.is_empty() {
            return Ok(());
        }
        let heads = store::heads(pool, &organizations).await?;
        let heads: HashMap<OrganizationId, i64> = heads.into_iter().collect();
        for organization in organizations {
            let head = heads.get(&organization).copied().unwrap_or(0);
            let Some(cursor) = self.cursors.get(&organization).copied() else {
                self.cursors.insert(organization, head);
                hub.mark_tailed(organization);
                continue;
            };
            let mut cursor = cursor;
            while cursor < head {
                let (rows, next) =
                    read_batch(pool, organization, cursor, head, &self.actions).await?;
                let signals: Vec<Signal> = rows.into_iter().filter_map(Signal::from_row).collect();
                hub.publish(organization, &signals);
                cursor = next;
                self.cursors.insert(organization, cursor);
            }
            // Every round: an organization that left the hub and came back is covered again.
            hub.mark_tailed(organization);
        }
        Ok(())
    }
}

/// One batch of `organization`'s rows after `cursor` (whose head was `head`), and where the
/// next batch starts. Records the tailer's lag from the newest row.
pub async fn read_batch(
    pool: &PgPool,
    organization: OrganizationId,
    cursor: i64,
    head: i64,
    actions: &[&str],
) -> Result<(Vec<FeedRow>, i64), sqlx::Error> {
    let rows = store::feed(pool, organization, cursor, actions, BATCH).await?;
    let full = rows.len() == usize::try_from(BATCH).unwrap_or(usize::MAX);
    let next = match rows.last() {
        Some(last) => {
            let lag = (Utc::now() - last.occurred_at).num_milliseconds().max(0);
            #[expect(clippy::cast_precision_loss, reason = "milliseconds fit an f64")]
            crate::telemetry::metrics::realtime_lag(lag as f64 / 1000.0);
            if full {
                last.sequence
            } else {
                last.sequence.max(head)
            }
        }
        // Nothing mapped up to the head: the head is read.
        None => head.max(cursor),
    };
    Ok((rows, next))
}

/// Runs the tailer every `period` (and at once when an organization gets its first socket)
/// until the task is aborted.
pub fn spawn(pool: PgPool, hub: Hub, period: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tailer = Tailer::new();
        loop {
            if let Err(error) = tailer.run_once(&pool, &hub).await {
                tracing::warn!(
                    error = %crate::telemetry::loggable(&error),
                    "the realtime tailer could not read the audit chain"
                );
            }
            hub.new_organization(period).await;
        }
    })
}
