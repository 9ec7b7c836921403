//! Counters in Redis, shared by every Haven instance.
//!
//! One Lua script does `INCR`, sets the expiry on the first hit and reads what is left of it;
//! Redis runs scripts one at a time, so hits from any number of instances are counted exactly.
//!
//! **When Redis fails** (down, slow, refusing), the hit is counted by an in-process limiter
//! instead, and Redis is left alone for [`BACKOFF`] so a dead server costs each request nothing.
//! Failing open would switch the limit off exactly when an attacker can make Redis slow;
//! failing closed would turn a Redis outage into a login outage. In-process counting keeps the
//! limit, per instance, for as long as the outage lasts. A warning is logged at most once a
//! minute (with the number of failures since the last one), and recovery once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use secrecy::{ExposeSecret, SecretString};

use super::memory::MemoryLimiter;
use super::{Decision, RateLimitError};

const SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  -- A counter without an expiry (someone ran PERSIST) would block its key forever.
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
";

/// How long start-up may wait for Redis before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for Redis: a local one answers in well under a millisecond.
const CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failure, hits skip Redis this long.
const BACKOFF: Duration = Duration::from_secs(2);
const WARN_INTERVAL: Duration = Duration::from_secs(60);

/// The Redis store, with its in-process fallback.
pub(super) struct RedisLimiter {
    connection: ConnectionManager,
    script: Script,
    prefix: String,
    fallback: MemoryLimiter,
    health: Health,
}

// By hand: the connection manager's `Debug` prints the client, whose URL may hold a password.
impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    pub(super) async fn connect(url: &SecretString, prefix: &str) -> Result<Self, RateLimitError> {
        let client = Client::open(url.expose_secret()).map_err(RateLimitError::InvalidUrl)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let script = Script::new(SCRIPT);
        let start = async {
            let mut connection = ConnectionManager::new_with_config(client, config).await?;
            // Loading the script proves both the connection and that scripting is allowed.
            script.prepare_invoke().load_async(&mut connection).await?;
            Ok(connection)
        };
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, start)
            .await
            .map_err(|_| RateLimitError::ConnectTimeout(CONNECT_TIMEOUT))?
            .map_err(RateLimitError::Connect)?;
        Ok(Self {
            connection,
            script,
            prefix: prefix.to_owned(),
            fallback: MemoryLimiter::new(),
            health: Health::new(),
        })
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(super) async fn hit(&self, key: &str, limit: u32, window: Duration) -> Decision {
        match self.hit_remote(key, limit, window).await {
            Some(decision) => decision,
            None => self.fallback.hit(key, limit, window),
        }
    }

    /// The hit counted in Redis; `None` while backing off or when Redis did not answer.
    pub(super) async fn hit_remote(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Option<Decision> {
        if self.health.backing_off() {
            return None;
        }
        match self.run(key, window).await {
            Ok((count, ttl_ms)) => {
                self.health.succeeded();
                let count = u32::try_from(count.max(0)).unwrap_or(u32::MAX);
                let ttl = Duration::from_millis(u64::try_from(ttl_ms.max(0)).unwrap_or(0));
                Some(Decision {
                    allowed: count <= limit,
                    remaining: limit.saturating_sub(count),
                    retry_after: ttl.min(window),
                })
            }
            Err(error) => {
                self.health.failed(&error);
                None
            }
        }
    }

    async fn run(&self, key: &str, window: Duration) -> Result<(i64, i64), redis::RedisError> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(key);
        invocation.arg(window_ms);
        tokio::time::timeout(CALL_TIMEOUT, invocation.invoke_async(&mut connection))
            .await
            .unwrap_or_else(|_| {
                Err(redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "no answer in time",
                )))
            })
    }

    /// Deletes every counter under this store's prefix (tests clean up after themselves).
    #[cfg(test)]
    pub(super) async fn purge(&self) -> redis::RedisResult<()> {
        let mut connection = self.connection.clone();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query_async(&mut connection)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(keys)
                .query_async::<()>(&mut connection)
                .await?;
        }
        Ok(())
    }
}

/// Whether Redis is usable, and when we last said it was not.
struct Health {
    epoch: Instant,
    /// Milliseconds since `epoch` until which hits skip Redis.
    backoff_until: AtomicU64,
    /// Milliseconds since `epoch` of the last warning, `u64::MAX` for never.
    warned_at: AtomicU64,
    failures: AtomicU64,
    degraded: AtomicBool,
}

impl Health {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            backoff_until: AtomicU64::new(0),
            warned_at: AtomicU64::new(u64::MAX),
            failures: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn backing_off(&self) -> bool {
        self.now_ms() < self.backoff_until.load(Ordering::Relaxed)
    }

    fn succeeded(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis answers again; rate limits are shared across instances");
        }
    }

    fn failed(&self, error: &redis::RedisError) {
        let now = self.now_ms();
        let backoff_ms = u64::try_from(BACKOFF.as_millis()).unwrap_or(u64::MAX);
        self.backoff_until
            .store(now.saturating_add(backoff_ms), Ordering::Relaxed);
        self.degraded.store(true, Ordering::Relaxed);
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let last = self.warned_at.load(Ordering::Relaxed);
        let interval_ms = u64::try_from(WARN_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        let due = last == u64::MAX || now.saturating_sub(last) >= interval_ms;
        // The exchange lets exactly one of several racing requests write the warning.
        if due
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.failures.store(0, Ordering::Relaxed);
            tracing::warn!(
                %error,
                failures,
                "Redis rate limiting failed; counting in process until it recovers"
            );
        }
    }
}

#[cfg(test)]
#[path = "redis_tests.rs"]
mod tests;
