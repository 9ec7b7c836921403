//! Each `(jkt, jti)` is accepted once (RFC 9449 §11.1) and refused for [`WINDOW`] after.
//!
//! With `HAVEN_REDIS_URL` set, the record is in Redis (the rate limiter's atomic script with a
//! limit of one, `SET NX EX`-like), so every instance sees every use. Otherwise, and whenever
//! Redis does not answer, it is in this process: [`Seen`], sets of used proofs in 5-second
//! buckets of the time of use, a bucket dropped whole once it is older than the window. The
//! window outlives any proof [`super::check`] still accepts (60 s back, 5 s ahead), so a replay
//! cannot outwait it. No database write per request.
//!
//! Why not the rate limiter's in-process store, as before: it holds at most 100,000 counters and
//! makes room by evicting the window closing soonest. At 2,000 proofs/s its 90 s window needs
//! 180,000: once full, every new proof paid a scan of its shard (DPoP reads fell by a third
//! within a minute of load, BENCHMARKS.md), and a proof evicted younger than 65 s could be
//! replayed. Here nothing live is ever evicted: past [`MAX_SEEN`] live proofs (40 MB or so)
//! new ones are refused, which fails closed.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::ratelimit::RateLimiter;

/// How long a used `(jkt, jti)` is remembered.
pub const WINDOW: Duration = Duration::from_secs(90);

/// The width of one bucket of [`Seen`], in seconds.
const BUCKET_SECS: u64 = 5;

/// At most this many proofs are remembered in process; beyond, new ones are refused.
pub const MAX_SEEN: usize = 1_000_000;

/// Whether this is the first use of `(jkt, jti)` within [`WINDOW`]; records it.
pub async fn first_use(limiter: &RateLimiter, seen: &Seen, jkt: &str, jti: &str) -> bool {
    // The subject is hashed by the store: neither value is kept readable.
    let key = format!("dpop:{jkt}.{jti}");
    match limiter.hit_shared(&key, 1, WINDOW).await {
        Some(decision) => decision.allowed,
        None => seen.first_use(jkt, jti),
    }
}

/// The proofs used recently in this process, by time of use (see the module docs).
pub struct Seen {
    started: Instant,
    state: Mutex<Buckets>,
}

#[derive(Default)]
struct Buckets {
    /// (bucket number, digests of the proofs first used in it), oldest first.
    buckets: VecDeque<(u64, HashSet<u128>)>,
    len: usize,
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            state: Mutex::default(),
        }
    }
}

impl fmt::Debug for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seen").finish_non_exhaustive()
    }
}

impl Seen {
    /// Whether `(jkt, jti)` is used for the first time within [`WINDOW`]; records it.
    pub fn first_use(&self, jkt: &str, jti: &str) -> bool {
        self.first_use_at(digest(jkt, jti), self.started.elapsed().as_secs(), MAX_SEEN)
    }

    fn first_use_at(&self, digest: u128, secs: u64, max: usize) -> bool {
        let bucket = secs / BUCKET_SECS;
        // Kept: every bucket that may hold a use less than WINDOW ago.
        let oldest = bucket.saturating_sub(WINDOW.as_secs().div_ceil(BUCKET_SECS));
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while state.buckets.front().is_some_and(|(n, _)| *n < oldest) {
            if let Some((_, gone)) = state.buckets.pop_front() {
                state.len -= gone.len();
            }
        }
        if state.buckets.iter().any(|(_, set)| set.contains(&digest)) {
            return false;
        }
        if state.len >= max {
            return false;
        }
        if state.buckets.back().is_none_or(|(n, _)| *n != bucket) {
            state.buckets.push_back((bucket, HashSet::new()));
        }
        if let Some((_, set)) = state.buckets.back_mut() {
            set.insert(digest);
        }
        state.len += 1;
        true
    }
}

/// 128 bits of SHA-256 over the thumbprint and the jti, kept instead of the strings.
fn digest(jkt: &str, jti: &str) -> u128 {
    let hash = Sha256::new()
        .chain_update(jkt.as_bytes())
        .chain_update([0])
        .chain_update(jti.as_bytes())
        .finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash[..16]);
    u128::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_is_accepted_once_and_refused_for_the_whole_window() {
        let seen = Seen::default();
        let (a, b) = (digest("key", "jti-1"), digest("key", "jti-2"));
        assert!(seen.first_use_at(a, 1_000, MAX_SEEN));
        assert!(!seen.first_use_at(a, 1_000, MAX_SEEN));
        assert!(seen.first_use_at(b, 1_001, MAX_SEEN));
        for later in [1_001, 1_030, 1_060, 1_089] {
            assert!(!seen.first_use_at(a, later, MAX_SEEN), "{later}");
        }
        // Past the window (and its bucket): forgotten, the memory given back.
        assert!(seen.first_use_at(digest("key", "jti-3"), 1_200, MAX_SEEN));
        assert!(seen.first_use_at(a, 1_200, MAX_SEEN));
        let state = seen.state.lock().expect("lock");
        assert_eq!((state.buckets.len(), state.len), (1, 2));
    }

    #[test]
    fn the_same_jti_of_another_key_is_another_proof() {
        let seen = Seen::default();
        assert!(seen.first_use_at(digest("key-a", "jti"), 10, MAX_SEEN));
        assert!(seen.first_use_at(digest("key-b", "jti"), 10, MAX_SEEN));
        assert_ne!(digest("ab", "c"), digest("a", "bc"));
    }

    #[test]
    fn when_full_new_proofs_are_refused_and_none_is_forgotten() {
        let seen = Seen::default();
        for n in 0..10 {
            assert!(seen.first_use_at(digest("key", &n.to_string()), 100, 10));
        }
        assert!(!seen.first_use_at(digest("key", "eleventh"), 100, 10));
        assert!(!seen.first_use_at(digest("key", "0"), 101, 10));
        // Room again once the old buckets leave the window.
        assert!(seen.first_use_at(digest("key", "eleventh"), 300, 10));
    }
}
