//! Rate limiting: fixed-window counters kept in process or shared through Redis. The per-IP
//! limit on `/api/auth/*` (SPEC §5) that uses them is HTTP middleware: `http::rate_limit`.
//!
//! A counter's window starts at its first hit and lasts `window`; every hit in it counts, and
//! hits past `limit` are refused until it ends. Both stores count atomically (a mutex in
//! process, one Lua script in Redis), so parallel requests, on one instance or many, can never
//! let more than `limit` through.
//!
//! Counter names are namespaced (`<prefix>:<name>:<hash>`) and the caller's part of the key is
//! always stored as its SHA-256, so an email, an IP address or a token never lands in Redis.
//!
//! When Redis fails mid-flight, the request is counted in process instead (see `redis_store`): an
//! outage weakens the limit to "per instance" for a while, it never takes the API down.

mod memory;
mod redis_store;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use sha2::{Digest, Sha256};

use memory::MemoryLimiter;
use redis_store::RedisLimiter;

/// The namespace of Haven's counters in Redis.
pub const DEFAULT_KEY_PREFIX: &str = "haven:rl";

/// A rate limiter; cheap to clone, all clones share the counters.
#[derive(Clone, Debug)]
pub struct RateLimiter(Arc<Store>);

#[derive(Debug)]
enum Store {
    Memory(MemoryLimiter),
    Redis(RedisLimiter),
}

/// The outcome of one hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether this hit is within the limit.
    pub allowed: bool,
    /// Hits left in the current window.
    pub remaining: u32,
    /// Time until the current window ends (and the count starts again).
    pub retry_after: Duration,
}

impl Decision {
    /// `retry_after` in whole seconds for the `Retry-After` header: rounded up, at least 1.
    #[must_use]
    pub fn retry_after_secs(&self) -> u64 {
        retry_after_secs(self.retry_after)
    }
}

/// Why a limiter could not be built or a hit could not be counted.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// `HAVEN_REDIS_URL` is not a Redis URL. (The URL is not repeated: it may hold a password.)
    #[error("HAVEN_REDIS_URL is not a valid Redis URL: {0}")]
    InvalidUrl(#[source] ::redis::RedisError),
    /// Redis refused the connection or the script at start-up.
    #[error("cannot use Redis for rate limiting: {0}")]
    Connect(#[source] ::redis::RedisError),
    /// Redis did not answer at start-up in time.
    #[error("Redis did not answer within {0:?}")]
    ConnectTimeout(Duration),
    /// A window shorter than a millisecond, which no store can count.
    #[error("a rate-limit window must be at least 1 ms")]
    InvalidWindow,
}

/// A hit over the limit: answers 429 `RATE_LIMITED` with `Retry-After`.
///
/// The HTTP layer answers it (`http::rate_limit`) with the envelope and `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("rate limit exceeded; retry after {retry_after:?}")]
pub struct RateLimited {
    /// Time until the caller may try again.
    pub retry_after: Duration,
}

impl RateLimited {
    /// `Retry-After` in whole seconds, rounded up, at least 1.
    #[must_use]
    pub fn retry_after_secs(&self) -> u64 {
        retry_after_secs(self.retry_after)
    }
}

impl RateLimiter {
    /// Counters in this process only: right for one instance and for tests.
    #[must_use]
    pub fn in_process() -> Self {
        Self(Arc::new(Store::Memory(MemoryLimiter::new())))
    }

    /// Counters in Redis, shared by every instance; keys start with `key_prefix`
    /// ([`DEFAULT_KEY_PREFIX`] in production). Fails, rather than starting degraded, when Redis
    /// cannot be reached or cannot run the script now.
    pub async fn redis(url: &SecretString, key_prefix: &str) -> Result<Self, RateLimitError> {
        let store = RedisLimiter::connect(url, key_prefix).await?;
        Ok(Self(Arc::new(Store::Redis(store))))
    }

    /// Counts one hit on `key` and says whether it is within `limit` per `window`.
    ///
    /// `key` is `<name>:<subject>` (e.g. `auth:203.0.113.7`): the name stays readable in the
    /// store, the subject is hashed. A key without a plain name is hashed whole.
    pub async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Decision, RateLimitError> {
        if window < Duration::from_millis(1) {
            return Err(RateLimitError::InvalidWindow);
        }
        Ok(match &*self.0 {
            Store::Memory(memory) => {
                memory.hit(&storage_key(DEFAULT_KEY_PREFIX, key), limit, window)
            }
            Store::Redis(redis) => {
                redis
                    .hit(&storage_key(redis.prefix(), key), limit, window)
                    .await
            }
        })
    }

    /// [`RateLimiter::hit`] in the shared store only: the decision when Redis answered it,
    /// `None` when the counters are in process (or Redis did not answer), for a caller that
    /// keeps its own record then.
    pub async fn hit_shared(&self, key: &str, limit: u32, window: Duration) -> Option<Decision> {
        if window < Duration::from_millis(1) {
            return None;
        }
        match &*self.0 {
            Store::Memory(_) => None,
            Store::Redis(redis) => {
                redis
                    .hit_remote(&storage_key(redis.prefix(), key), limit, window)
                    .await
            }
        }
    }

    /// Counts one hit on `<name>:<key>` (e.g. `refresh`, and a token family id or an IP) and
    /// refuses it with [`RateLimited`] when over `limit` per `window`.
    pub async fn check(
        &self,
        name: &str,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<(), RateLimited> {
        match self.hit(&format!("{name}:{key}"), limit, window).await {
            Ok(decision) if decision.allowed => Ok(()),
            Ok(decision) => Err(RateLimited {
                retry_after: decision.retry_after,
            }),
            // Only a zero window gets here: a bug in the caller's constant, which a test of that
            // route shows. Refusing every request for it would be an outage of our own making.
            Err(error) => {
                tracing::error!(error = %crate::telemetry::loggable(&error), name, "rate limit misconfigured; request allowed");
                Ok(())
            }
        }
    }
}

/// Rounded up to whole seconds, at least 1: `Retry-After: 0` would invite an immediate retry.
fn retry_after_secs(retry_after: Duration) -> u64 {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    secs.max(1)
}

/// `<prefix>:<name>:<sha256(subject)>`; see [`RateLimiter::hit`].
fn storage_key(prefix: &str, key: &str) -> String {
    let (name, subject): (Cow<'_, str>, &str) = match key.split_once(':') {
        Some((name, subject)) if is_plain_name(name) => (name.into(), subject),
        _ => ("key".into(), key),
    };
    let digest = Sha256::digest(subject.as_bytes());
    format!("{prefix}:{name}:{}", hex::encode(digest))
}

/// A short lowercase identifier: it is kept readable, so it must not be able to hold data.
fn is_plain_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_hashed_and_names_kept() {
        let key = storage_key("haven:rl", "login:alice@example.org");
        assert!(key.starts_with("haven:rl:login:"), "{key}");
        assert!(!key.contains("alice"), "{key}");
        assert_eq!(key.len(), "haven:rl:login:".len() + 64);
    }

    #[test]
    fn a_key_without_a_plain_name_is_hashed_whole() {
        for key in [
            "alice@example.org",
            "Alice@Example.org:x",
            "alice@example.org:1",
        ] {
            let stored = storage_key("p", key);
            assert!(stored.starts_with("p:key:"), "{stored}");
            assert!(!stored.contains("alice") && !stored.contains("Alice"));
        }
    }

    #[test]
    fn retry_after_rounds_up_to_at_least_one_second() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1_001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(300)), 300);
    }

    #[tokio::test]
    async fn a_zero_window_is_refused() {
        let limiter = RateLimiter::in_process();
        let result = limiter.hit("auth:x", 1, Duration::ZERO).await;
        assert!(matches!(result, Err(RateLimitError::InvalidWindow)));
    }

    #[tokio::test]
    async fn check_answers_429_with_retry_after_over_the_limit() {
        let limiter = RateLimiter::in_process();
        let window = Duration::from_secs(60);
        assert!(
            limiter
                .check("refresh", "family-1", 1, window)
                .await
                .is_ok()
        );

        let refused = limiter
            .check("refresh", "family-1", 1, window)
            .await
            .expect_err("second hit is over the limit");
        let retry = refused.retry_after_secs();
        assert!((1..=60).contains(&retry), "{retry}");
        assert!(
            limiter
                .check("refresh", "family-2", 1, window)
                .await
                .is_ok()
        );
    }
}
