//! In-process counters: a sharded map from key to window, behind plain mutexes.
//!
//! A hit holds one shard's lock for a map look-up, so it never awaits and contention stays low.
//! Memory stays bounded without a background task: expired windows are swept when a shard has
//! doubled since its last sweep or a minute has passed, and a shard at capacity drops the window
//! closest to its end to make room.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::Decision;

const SHARDS: usize = 16;
/// Room for 100k live counters (about 15 MB); beyond that the oldest windows make way.
const DEFAULT_CAPACITY: usize = 100_000;
/// A shard is not swept below this many entries: sweeping tiny maps is wasted work.
const MIN_SWEEP_LEN: usize = 64;
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// The in-process store.
#[derive(Debug)]
pub(super) struct MemoryLimiter {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    shard_capacity: usize,
}

#[derive(Debug)]
struct Shard {
    windows: HashMap<String, Window>,
    sweep_at_len: usize,
    sweep_at: Instant,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    count: u32,
    ends_at: Instant,
}

impl MemoryLimiter {
    pub(super) fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A store holding at most about `capacity` live counters.
    pub(super) fn with_capacity(capacity: usize) -> Self {
        let now = Instant::now();
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    windows: HashMap::new(),
                    sweep_at_len: MIN_SWEEP_LEN,
                    sweep_at: now + SWEEP_INTERVAL,
                })
            })
            .collect();
        Self {
            shards,
            hasher: RandomState::new(),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
        }
    }

    pub(super) fn hit(&self, key: &str, limit: u32, window: Duration) -> Decision {
        let now = Instant::now();
        let mut shard = self.shard(key);
        let entry = match shard.windows.get_mut(key) {
            Some(entry) => entry,
            None => {
                shard.make_room(now, self.shard_capacity);
                shard.windows.entry(key.to_owned()).or_insert(Window {
                    count: 0,
                    ends_at: now,
                })
            }
        };
        if entry.ends_at <= now {
            *entry = Window {
                count: 0,
                ends_at: now + window,
            };
        }
        entry.count = entry.count.saturating_add(1);
        Decision {
            allowed: entry.count <= limit,
            remaining: limit.saturating_sub(entry.count),
            retry_after: entry.ends_at.saturating_duration_since(now),
        }
    }

    /// How many counters are held, expired ones included.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| lock(shard).windows.len())
            .sum()
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        // The modulo keeps the index in range; truncating the hash first changes nothing.
        let index = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        lock(&self.shards[index])
    }
}

impl Shard {
    /// Called before a new key goes in; see the module docs.
    fn make_room(&mut self, now: Instant, capacity: usize) {
        if self.windows.len() >= self.sweep_at_len.min(capacity) || now >= self.sweep_at {
            self.windows.retain(|_, window| window.ends_at > now);
            self.sweep_at_len = (self.windows.len() * 2).max(MIN_SWEEP_LEN);
            self.sweep_at = now + SWEEP_INTERVAL;
        }
        if self.windows.len() >= capacity {
            // Only reached when the shard is full of live windows (a flood of distinct keys):
            // the one ending soonest loses the least counting.
            let soonest = self
                .windows
                .iter()
                .min_by_key(|(_, window)| window.ends_at)
                .map(|(key, _)| key.clone());
            if let Some(key) = soonest {
                self.windows.remove(&key);
            }
        }
    }
}

/// The maps stay consistent even if a holder panicked (no code between their updates can), so
/// a poisoned lock is still safe to use.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::ratelimit::RateLimiter;

    #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
    async fn exactly_the_limit_of_concurrent_hits_is_allowed() {
        let limiter = RateLimiter::in_process();
        let allowed = Arc::new(AtomicU32::new(0));

        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let (limiter, allowed) = (limiter.clone(), Arc::clone(&allowed));
                tokio::spawn(async move {
                    let decision = limiter
                        .hit("auth:198.51.100.1", 50, Duration::from_secs(60))
                        .await
                        .expect("hit");
                    if decision.allowed {
                        allowed.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }

        assert_eq!(allowed.load(Ordering::SeqCst), 50);
    }

    #[test]
    fn remaining_counts_down_and_retry_after_stays_within_the_window() {
        let store = MemoryLimiter::new();
        let window = Duration::from_secs(300);

        let first = store.hit("k", 2, window);
        let second = store.hit("k", 2, window);
        let third = store.hit("k", 2, window);

        assert!(first.allowed && second.allowed && !third.allowed);
        assert_eq!(
            (first.remaining, second.remaining, third.remaining),
            (1, 0, 0)
        );
        assert!(third.retry_after <= window);
        assert!(third.retry_after > Duration::from_secs(290));
        assert_eq!(third.retry_after_secs(), 300);
    }

    #[tokio::test]
    async fn a_new_window_starts_once_the_old_one_ends() {
        let store = MemoryLimiter::new();
        let window = Duration::from_millis(200);
        assert!(store.hit("k", 1, window).allowed);
        assert!(!store.hit("k", 1, window).allowed);

        tokio::time::sleep(Duration::from_millis(250)).await;

        assert!(store.hit("k", 1, window).allowed);
    }

    #[tokio::test]
    async fn expired_windows_are_swept_as_new_keys_arrive() {
        let store = MemoryLimiter::new();
        let short = Duration::from_millis(50);
        for i in 0..5_000 {
            store.hit(&format!("old:{i}"), 10, short);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;

        for i in 0..5_000 {
            store.hit(&format!("new:{i}"), 10, Duration::from_secs(60));
        }

        // Each shard sweeps whenever it doubles, so the dead keys cannot all still be there.
        assert!(store.len() < 8_000, "{} counters held", store.len());
    }

    #[test]
    fn a_full_store_makes_room_for_new_keys() {
        let store = MemoryLimiter::with_capacity(160);
        for i in 0..2_000 {
            assert!(
                store
                    .hit(&format!("k:{i}"), 1, Duration::from_secs(60))
                    .allowed
            );
        }
        assert!(store.len() <= 160, "{} counters held", store.len());
    }
}
