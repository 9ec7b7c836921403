//! Several instances sharing a Redis (`HAVEN_REDIS_URL`): one leader tails the sealed chain of
//! every organization that has a socket anywhere and publishes its rows; every instance
//! delivers them to its own sockets.
//!
//! - **Interest.** Each instance announces its organizations every round in a sorted set
//!   (`<prefix>:realtime:orgs`, score = until when, 10 s ahead).
//! - **Leadership.** A key (`<prefix>:realtime:leader`, 3 s, renewed every round by its holder
//!   through one script) names the instance that tails. When it dies another takes over within
//!   the key's lifetime.
//! - **Cursors** live in Redis (`<prefix>:realtime:cursors`), written after each publish: a
//!   new leader resumes where the old one stopped. A row published twice around a change of
//!   leader is sent once per socket anyway (each socket skips sequence numbers it has sent).
//! - **Messages** go on one channel (`<prefix>:realtime:events`): `{"organization", "rows"}`
//!   batches in sequence order, and each round a `{"tailed": [...]}` list, which tells the
//!   instances that their sockets' organizations are covered (so a new socket's replay and its
//!   live events meet without a gap). Rows carry the thin event fields only, never PHI.
//!
//! While Redis is unreachable no events flow; sockets stay open, and the leader resumes from
//! the stored cursors when Redis returns.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Client, Script};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::events::{FeedRow, Signal, mapped_actions};
use super::hub::Hub;
use super::tailer::read_batch;
use crate::ids::OrganizationId;
use crate::store::realtime as store;

/// The leader's key lives this long unless renewed.
const LEADER_TTL: Duration = Duration::from_secs(3);

/// An instance's interest in an organization lasts this long unless renewed.
const INTEREST_TTL: Duration = Duration::from_secs(10);

/// The stored cursors outlive a pause of every instance by this much (a leader resuming later
/// starts from the heads instead: its sockets replay with `since`).
const CURSORS_TTL: Duration = Duration::from_secs(3600);

/// Takes the leadership when free, renews it when held: 1 when this instance leads.
const LEAD: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// What goes through the channel.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Message {
    /// One organization's rows, in sequence order.
    Rows {
        organization: OrganizationId,
        rows: Vec<FeedRow>,
    },
    /// The organizations the leader tails.
    Tailed { tailed: Vec<OrganizationId> },
}

/// The keys and channel under one prefix.
#[derive(Debug, Clone)]
struct Keys {
    leader: String,
    organizations: String,
    cursors: String,
    channel: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Self {
            leader: format!("{prefix}:realtime:leader"),
            organizations: format!("{prefix}:realtime:orgs"),
            cursors: format!("{prefix}:realtime:cursors"),
            channel: format!("{prefix}:realtime:events"),
        }
    }
}

/// The channel the leader publishes on, under `prefix` (tests listen to it).
#[must_use]
pub fn channel(prefix: &str) -> String {
    Keys::new(prefix).channel
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("encoding: {0}")]
    Encoding(#[from] serde_json::Error),
}

/// One instance's part: announcing, leading when it holds the key, and delivering.
struct Instance {
    id: String,
    keys: Keys,
    connection: ConnectionManager,
    lead: Script,
    /// While leading: where each organization's chain was read to.
    cursors: HashMap<OrganizationId, i64>,
    actions: Vec<&'static str>,
}

// By hand: the connection manager's `Debug` prints the client, whose URL may hold a password.
impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Instance {
    async fn round(&mut self, pool: &PgPool, hub: &Hub) -> Result<(), RoundError> {
        let now = now_ms();
        let local = hub.organizations();
        if !local.is_empty() {
            let until = now + ms(INTEREST_TTL);
            let members: Vec<(i64, String)> =
                local.iter().map(|org| (until, org.to_string())).collect();
            let () = self
                .connection
                .zadd_multiple(&self.keys.organizations, &members)
                .await?;
            // Nothing of a deployment that stopped stays in Redis for long.
            let _: bool = self
                .connection
                .pexpire(&self.keys.organizations, ms(INTEREST_TTL))
                .await?;
        }
        let leading: i64 = self
            .lead
            .key(&self.keys.leader)
            .arg(&self.id)
            .arg(ms(LEADER_TTL))
            .invoke_async(&mut self.connection)
            .await?;
        if leading != 1 {
            self.cursors.clear();
            return Ok(());
        }
        self.lead_round(pool, now).await
    }

    async fn lead_round(&mut self, pool: &PgPool, now: i64) -> Result<(), RoundError> {
        let () = self
            .connection
            .zrembyscore(&self.keys.organizations, "-inf", now)
            .await?;
        let wanted: Vec<String> = self
            .connection
            .zrangebyscore(&self.keys.organizations, now, "+inf")
            .await?;
        let organizations: Vec<OrganizationId> =
            wanted.iter().filter_map(|id| id.parse().ok()).collect();
        self.cursors.retain(|org, _| organizations.contains(org));
        if organizations.is_empty() {
            return Ok(());
        }
        let heads: HashMap<OrganizationId, i64> = store::heads(pool, &organizations)
            .await?
            .into_iter()
            .collect();
        for &organization in &organizations {
            let head = heads.get(&organization).copied().unwrap_or(0);
            let cursor = match self.cursors.get(&organization) {
                Some(cursor) => *cursor,
                None => {
                    let stored: Option<i64> = self
                        .connection
                        .hget(&self.keys.cursors, organization.to_string())
                        .await?;
                    let cursor = stored.unwrap_or(head);
                    self.store_cursor(organization, cursor).await?;
                    cursor
                }
            };
            let mut cursor = cursor;
            while cursor < head {
                let (rows, next) =
                    read_batch(pool, organization, cursor, head, &self.actions).await?;
                if !rows.is_empty() {
                    let message = serde_json::to_string(&Message::Rows { organization, rows })?;
                    let _: i64 = self.connection.publish(&self.keys.channel, message).await?;
                }
                cursor = next;
                self.store_cursor(organization, cursor).await?;
            }
        }
        let message = serde_json::to_string(&Message::Tailed {
            tailed: organizations,
        })?;
        let _: i64 = self.connection.publish(&self.keys.channel, message).await?;
        Ok(())
    }

    async fn store_cursor(
        &mut self,
        organization: OrganizationId,
        cursor: i64,
    ) -> Result<(), RoundError> {
        self.cursors.insert(organization, cursor);
        let () = self
            .connection
            .hset(&self.keys.cursors, organization.to_string(), cursor)
            .await?;
        let _: bool = self
            .connection
            .pexpire(&self.keys.cursors, ms(CURSORS_TTL))
            .await?;
        Ok(())
    }
}

/// Hands what the channel says to this instance's hub.
fn deliver(hub: &Hub, payload: &[u8]) {
    match serde_json::from_slice::<Message>(payload) {
        Ok(Message::Rows { organization, rows }) => {
            let signals: Vec<Signal> = rows.into_iter().filter_map(Signal::from_row).collect();
            hub.publish(organization, &signals);
        }
        Ok(Message::Tailed { tailed }) => {
            for organization in tailed {
                hub.mark_tailed(organization);
            }
        }
        Err(error) => tracing::warn!(%error, "an unreadable realtime message was ignored"),
    }
}

/// Connects to Redis and runs this instance's part (announce, lead when elected, deliver)
/// every `period` until the tasks are aborted. Keys are under `prefix`.
pub async fn spawn(
    url: &SecretString,
    prefix: &str,
    pool: PgPool,
    hub: Hub,
    period: Duration,
) -> Result<Vec<JoinHandle<()>>, redis::RedisError> {
    let client = Client::open(url.expose_secret())?;
    let keys = Keys::new(prefix);
    let connection = ConnectionManager::new(client.clone()).await?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(&keys.channel).await?;
    let listener_hub = hub.clone();
    let channel = keys.channel.clone();
    let listener = tokio::spawn(async move {
        loop {
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                deliver(&listener_hub, message.get_payload_bytes());
            }
            tracing::warn!("the realtime channel closed; reconnecting");
            pubsub = loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let subscribed = async {
                    let mut pubsub = client.get_async_pubsub().await?;
                    pubsub.subscribe(&channel).await?;
                    Ok::<_, redis::RedisError>(pubsub)
                };
                if let Ok(pubsub) = subscribed.await {
                    break pubsub;
                }
            };
        }
    });
    let mut instance = Instance {
        id: Uuid::new_v4().to_string(),
        keys,
        connection,
        lead: Script::new(LEAD),
        cursors: HashMap::new(),
        actions: mapped_actions(),
    };
    let rounds = tokio::spawn(async move {
        loop {
            if let Err(error) = instance.round(&pool, &hub).await {
                let error = match &error {
                    RoundError::Database(e) => crate::telemetry::loggable(e).to_string(),
                    other => other.to_string(),
                };
                tracing::warn!(%error, "a realtime round failed");
            }
            hub.new_organization(period).await;
        }
    });
    Ok(vec![listener, rounds])
}
