//! The five-sockets-per-user cap across instances (with `HAVEN_REDIS_URL`).
//!
//! Each user has a sorted set in Redis (`<prefix>:realtime:sockets:<user id>`) of their open
//! sockets anywhere: member = a socket id unique across instances, score = until when it
//! counts (Redis's clock, [`LEASE`] ahead). Admission is one script — drop the expired
//! members, count, add only below the cap — so two instances admitting at once cannot both
//! take the last slot. A socket renews its lease with every heartbeat (25 s) and removes itself
//! when it closes; the sockets of an instance that crashed stop counting once their leases run
//! out, and the whole key expires [`LEASE`] after its last change.
//!
//! The per-instance cap of the hub still applies. **When Redis fails**, a socket is admitted on
//! that cap alone (and logged): refusing every connection during a Redis outage would turn it
//! into a realtime outage, and the per-instance cap keeps a user's sockets bounded meanwhile.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::hub::MAX_SOCKETS_PER_USER;
use crate::ids::UserId;

/// How long a socket counts without a renewal: two heartbeats and then some.
pub const LEASE: Duration = Duration::from_secs(60);

/// How long a call may wait for Redis before the socket is admitted on the local cap alone.
const CALL_TIMEOUT: Duration = Duration::from_millis(500);

/// Drops expired members, and adds ARGV[1] only while fewer than ARGV[2] remain: 1 when added.
const ADMIT: &str = r"
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// Renews ARGV[1]'s lease (re-adding it if it had lapsed: the socket is open).
const RENEW: &str = r"
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// The shared cap: a connection to Redis and this instance's id.
#[derive(Clone)]
pub struct SharedCap {
    connection: ConnectionManager,
    admit: Script,
    renew: Script,
    prefix: String,
    instance: Uuid,
}

// By hand: the connection manager's `Debug` prints the client, whose URL may hold a password.
impl std::fmt::Debug for SharedCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCap")
            .field("prefix", &self.prefix)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// One socket's place in the shared cap.
#[derive(Debug, Clone)]
pub struct Lease {
    cap: SharedCap,
    key: String,
    member: String,
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl SharedCap {
    /// Connects to Redis; keys go under `prefix`.
    pub async fn connect(url: &SecretString, prefix: &str) -> Result<Self, redis::RedisError> {
        let client = Client::open(url.expose_secret())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(client, config).await?;
        Ok(Self {
            connection,
            admit: Script::new(ADMIT),
            renew: Script::new(RENEW),
            prefix: prefix.to_owned(),
            instance: Uuid::new_v4(),
        })
    }

    /// The key of `user`'s sockets.
    #[must_use]
    pub fn key(prefix: &str, user: UserId) -> String {
        format!("{prefix}:realtime:sockets:{user}")
    }

    /// Takes one of `user`'s slots for socket `socket` (this instance's number): `Some` lease
    /// when admitted, `None` when the user holds [`MAX_SOCKETS_PER_USER`] sockets already.
    /// `Err` when Redis did not answer.
    pub async fn admit(
        &self,
        user: UserId,
        socket: u64,
    ) -> Result<Option<Lease>, redis::RedisError> {
        let key = Self::key(&self.prefix, user);
        let member = format!("{}:{socket}", self.instance);
        let mut connection = self.connection.clone();
        let admitted: i64 = self
            .admit
            .key(&key)
            .arg(&member)
            .arg(MAX_SOCKETS_PER_USER)
            .arg(ms(LEASE))
            .invoke_async(&mut connection)
            .await?;
        Ok((admitted == 1).then(|| Lease {
            cap: self.clone(),
            key,
            member,
        }))
    }
}

impl Lease {
    /// Renews the lease (a heartbeat). A failure is logged; the lease runs out on its own.
    pub async fn renew(&self) {
        let mut connection = self.cap.connection.clone();
        let renewed: Result<i64, _> = self
            .cap
            .renew
            .key(&self.key)
            .arg(&self.member)
            .arg(ms(LEASE))
            .invoke_async(&mut connection)
            .await;
        if let Err(error) = renewed {
            tracing::warn!(%error, "a realtime socket's lease could not be renewed");
        }
    }

    /// Gives the slot back (the socket closed). A failure is logged; the lease runs out on its
    /// own within [`LEASE`].
    pub async fn release(self) {
        let mut connection = self.cap.connection.clone();
        let removed: Result<i64, _> = redis::cmd("ZREM")
            .arg(&self.key)
            .arg(&self.member)
            .query_async(&mut connection)
            .await;
        if let Err(error) = removed {
            tracing::warn!(%error, "a realtime socket's slot could not be released");
        }
    }
}
