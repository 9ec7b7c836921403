//! The password hashing service: Argon2id hashing and verification on a bounded pool.
//!
//! Each Argon2id hash takes tens of milliseconds of CPU and 19 MiB or more of memory. Run on the
//! async runtime's worker threads, a flood of logins would stall every other request; run
//! without a bound, it would exhaust memory. So every hash and verification waits for one of
//! `threads` permits of a [`Semaphore`] and then runs under [`tokio::task::spawn_blocking`]:
//!
//! - the worker threads never hash, they only await;
//! - never more than `threads` hashes run at once, whatever the load;
//! - a request that gives up while queued (timeout, client gone) simply leaves the queue: with a
//!   job channel to dedicated threads its job would stay queued and run for nobody;
//! - once a hash has started, its permit moves into the blocking closure, so the slot stays taken
//!   until the hash really ends even when the caller has gone away;
//! - a panic is contained in its task ([`tokio::task::JoinError`]) instead of silently shrinking
//!   a hand-made pool, and there are no threads to start, name or shut down.
//!
//! Tokio's blocking pool is shared (file I/O, DNS), but hashing takes at most `threads` of its
//! 512 threads. The permits are handed out first come, first served.
//!
//! Hashes and verifications reuse their Argon2 working memory ([`Arena`]): one 19 MiB block
//! array per pool slot, kept between calls. Allocating it afresh per login (or per user created)
//! made the allocator hoard freed arrays (hundreds of MiB under a login flood, or after creating
//! fifty users) and cost thousands of page faults per hash.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, PasswordVerifier as _, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use super::{HashError, argon2id};
use crate::config::Argon2Params;

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Verification {
    /// The password is right.
    pub matches: bool,
    /// The password is right but the stored hash is legacy bcrypt, or Argon2 weaker than the
    /// configured parameters: store a fresh [`PasswordHasher::hash`] of it. Never set without
    /// `matches`.
    pub needs_rehash: bool,
}

impl Verification {
    /// A wrong password, or a hash nobody can log in with.
    pub const NO_MATCH: Self = Self {
        matches: false,
        needs_rehash: false,
    };
}

/// Hashes and verifies passwords on a bounded pool (see the module docs). Cheap to clone: clones
/// share the pool.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    argon2: Argon2<'static>,
    params: Argon2Params,
    /// A PHC string with `params`, a random salt and a random output ([`dummy_hash`]): unknown
    /// users and unusable hashes are verified against it so that they cost the same time as a
    /// real account.
    dummy: String,
    permits: Arc<Semaphore>,
    arena: Arena,
    threads: usize,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.inner.params)
            .field("threads", &self.inner.threads)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with Argon2id `params` running at most `threads` hashes at once (at least one).
    pub fn new(params: Argon2Params, threads: usize) -> Result<Self, HashError> {
        let argon2 = argon2id(params)?;
        let dummy = dummy_hash(&argon2)?;
        let threads = threads.max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                argon2,
                params,
                dummy,
                permits: Arc::new(Semaphore::new(threads)),
                arena: Arena::new(params.memory_kib),
                threads,
                in_flight: AtomicUsize::new(0),
                peak_in_flight: AtomicUsize::new(0),
            }),
        })
    }

    /// Hashes `password` with Argon2id, the configured parameters and a fresh random salt, into
    /// a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        self.run(move |inner| {
            hash_in_arena(
                &inner.argon2,
                &inner.arena,
                password.expose_secret().as_bytes(),
            )
        })
        .await?
    }

    /// Checks `password` against `stored`: an Argon2 PHC string, or a legacy bcrypt hash (`$2a$`,
    /// `$2b$`, `$2y$`, always to be rehashed). Anything else (a placeholder such as `!`, an unknown
    /// scheme) never matches but costs a dummy verification, so the answer takes about as long.
    pub async fn verify(&self, password: SecretString, stored: String) -> Verification {
        let outcome = self
            .run(move |inner| {
                let password = password.expose_secret().as_bytes();
                check(inner.params, password, &stored, Some(&inner.arena)).unwrap_or_else(|| {
                    inner.burn(password);
                    Verification::NO_MATCH
                })
            })
            .await;
        outcome.unwrap_or_else(|_| {
            tracing::error!("password verification did not complete");
            Verification::NO_MATCH
        })
    }

    /// Spends the time of one verification, for a login whose user does not exist.
    pub async fn verify_dummy(&self, password: SecretString) {
        let outcome = self
            .run(move |inner| inner.burn(password.expose_secret().as_bytes()))
            .await;
        if outcome.is_err() {
            tracing::error!("dummy password verification did not complete");
        }
    }

    /// How many hashes or verifications are running right now.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    /// The most that ever ran at once; never more than the pool's size.
    #[must_use]
    pub fn peak_in_flight(&self) -> usize {
        self.inner.peak_in_flight.load(Ordering::SeqCst)
    }

    /// Waits for a permit, then runs `job` on the blocking pool.
    async fn run<T, F>(&self, job: F) -> Result<T, HashError>
    where
        F: FnOnce(&Inner) -> T + Send + 'static,
        T: Send + 'static,
    {
        // The semaphore is never closed, so acquiring fails only in theory.
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| HashError)?;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // Declared after the permit, so dropped before it: the count falls before the next
            // job may start.
            let _slot = InFlight::enter(&inner);
            job(&inner)
        })
        .await
        .map_err(|_| HashError)
    }
}

impl Inner {
    fn burn(&self, password: &[u8]) {
        // The outcome is meaningless; only the time spent matters.
        std::hint::black_box(check(self.params, password, &self.dummy, Some(&self.arena)));
    }
}

/// Argon2 working memory kept between hashes and verifications. At most one buffer per pool slot
/// exists, since at most that many hashes run at once. A buffer holds state derived from the
/// last password it hashed until the next hash overwrites it; it never leaves the process.
pub(super) struct Arena {
    buffers: Mutex<Vec<Vec<Block>>>,
    /// Buffers larger than this (a stored hash with stronger parameters) are not kept.
    keep_blocks: usize,
}

impl Arena {
    fn new(memory_kib: u32) -> Self {
        Self {
            buffers: Mutex::new(Vec::new()),
            keep_blocks: usize::try_from(memory_kib).unwrap_or(usize::MAX),
        }
    }

    /// Runs `work` with `count` blocks of reused memory.
    fn with_blocks<T>(&self, count: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
        let reused = self
            .buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut buffer = reused.unwrap_or_default();
        if buffer.len() < count {
            buffer.resize(count, Block::default());
        }
        let result = work(&mut buffer[..count]);
        if buffer.len() <= self.keep_blocks {
            self.buffers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(buffer);
        }
        result
    }
}

/// Hashes `password` with `argon2`'s parameters and a fresh 16-byte random salt into a PHC
/// string, in reused memory (what `Argon2::hash_password` does, without allocating the block
/// array: creating users in bulk grew the process by hundreds of MiB of hoarded arrays).
fn hash_in_arena(argon2: &Argon2<'_>, arena: &Arena, password: &[u8]) -> Result<String, HashError> {
    let params = argon2.params();
    let salt = random_salt()?;
    let mut output = vec![0u8; output_len(params)];
    arena
        .with_blocks(params.block_count(), |blocks| {
            argon2.hash_password_into_with_memory(password, &salt, &mut output, blocks)
        })
        .map_err(|_| HashError)?;
    phc(params, salt, &output)
}

/// A stand-in for the hash of a password nobody knows: `argon2`'s parameters, a random salt and
/// a random output. Verifying any password against it recomputes a full Argon2id hash, exactly
/// as against a real account, and matches with probability 2⁻²⁵⁶. Nothing is hashed to make it,
/// so start-up neither spends a hash nor leaves the allocator holding its 19 MiB of blocks.
fn dummy_hash(argon2: &Argon2<'_>) -> Result<String, HashError> {
    let params = argon2.params();
    let salt = random_salt()?;
    let mut output = vec![0u8; output_len(params)];
    rand::fill(&mut output[..]);
    phc(params, salt, &output)
}

/// A fresh 16-byte random salt.
fn random_salt() -> Result<Salt, HashError> {
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    rand::fill(&mut salt[..]);
    Salt::new(&salt).map_err(|_| HashError)
}

fn output_len(params: &Params) -> usize {
    params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)
}

/// The PHC string of an Argon2id (v19) hash: `$argon2id$v=19$m=..,t=..,p=..$<salt>$<output>`.
fn phc(params: &Params, salt: Salt, output: &[u8]) -> Result<String, HashError> {
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|_| HashError)?,
        salt: Some(salt),
        hash: Some(Output::new(output).map_err(|_| HashError)?),
    };
    Ok(hash.to_string())
}

/// Recomputes an Argon2 hash into reused memory and compares outputs in constant time.
fn verify_in_arena(arena: &Arena, password: &[u8], phc: &PasswordHash) -> Option<bool> {
    let algorithm = Algorithm::try_from(phc.algorithm.as_str()).ok()?;
    let version = phc
        .version
        .map_or(Ok(Version::default()), Version::try_from)
        .ok()?;
    let params = Params::try_from(phc).ok()?;
    let salt = phc.salt.as_ref()?;
    let expected = phc.hash.as_ref()?;
    let mut computed = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    arena
        .with_blocks(params.block_count(), |blocks| {
            argon2.hash_password_into_with_memory(password, salt, &mut computed, blocks)
        })
        .ok()?;
    // `Output`'s equality is constant-time.
    Some(Output::new(&computed).is_ok_and(|output| output == *expected))
}

/// Counts a running job for as long as it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(inner: &'a Inner) -> Self {
        let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        inner.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(&inner.in_flight)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Verifies `password` against a stored Argon2 or bcrypt hash; `None` when `stored` is neither
/// (the caller decides whether to spend dummy time on it). Synchronous and CPU-heavy.
pub(super) fn check(
    configured: Argon2Params,
    password: &[u8],
    stored: &str,
    arena: Option<&Arena>,
) -> Option<Verification> {
    // bcrypt first: its strings are not PHC strings, and a lenient PHC parse must not claim them.
    if ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| stored.starts_with(prefix))
    {
        // bcrypt compares in constant time; a malformed hash is an error, i.e. "unknown".
        let matches = bcrypt::verify(password, stored).ok()?;
        return Some(Verification {
            matches,
            needs_rehash: matches,
        });
    }
    let phc = PasswordHash::new(stored).ok()?;
    // Without a salt or output it would fail at once, faster than a real verification.
    if phc.salt.is_none() || phc.hash.is_none() {
        return None;
    }
    let algorithm = Algorithm::try_from(phc.algorithm.as_str()).ok()?;
    let version = phc
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let version = version.ok()?;
    let params = Params::try_from(&phc).ok()?;
    // Verification recomputes with the hash's own algorithm, version and parameters, and
    // compares the outputs in constant time.
    let matches = match arena {
        Some(arena) => verify_in_arena(arena, password, &phc)?,
        None => Argon2::default().verify_password(password, &phc).is_ok(),
    };
    let weaker = algorithm != Algorithm::Argon2id
        || version != Version::V0x13
        || params.m_cost() < configured.memory_kib
        || params.t_cost() < configured.iterations
        || params.p_cost() < configured.parallelism;
    Some(Verification {
        matches,
        needs_rehash: matches && weaker,
    })
}

#[cfg(test)]
mod arena_tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn verifications_reuse_at_most_one_buffer_per_slot() {
        let hasher = PasswordHasher::new(Argon2Params::default(), 2).expect("hasher");
        let stored = hasher
            .hash(SecretString::from("arena test password"))
            .await
            .expect("hash");
        let checks: Vec<_> = (0..8)
            .map(|i| {
                let hasher = hasher.clone();
                let stored = stored.clone();
                let guess = if i % 2 == 0 {
                    "arena test password"
                } else {
                    "wrong"
                };
                tokio::spawn(async move {
                    hasher
                        .verify(SecretString::from(guess), stored)
                        .await
                        .matches
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for check in checks {
            outcomes.push(check.await.expect("task"));
        }

        assert_eq!(
            outcomes,
            vec![true, false, true, false, true, false, true, false]
        );
        let kept = hasher.inner.arena.buffers.lock().expect("lock").len();
        assert!((1..=2).contains(&kept), "{kept} buffers kept");
    }

    #[test]
    fn the_dummy_is_a_full_strength_hash_that_nothing_matches() {
        let hasher = PasswordHasher::new(Argon2Params::default(), 1).expect("hasher");
        let dummy = &hasher.inner.dummy;
        assert!(
            dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{dummy}"
        );
        let other = PasswordHasher::new(Argon2Params::default(), 1).expect("hasher");
        assert_ne!(dummy, &other.inner.dummy, "salt and output are random");
        // A verification against it runs (Some), as against a real account, and fails.
        assert_eq!(
            check(Argon2Params::default(), b"anything", dummy, None),
            Some(Verification::NO_MATCH)
        );
        assert!(hasher.inner.arena.buffers.lock().expect("lock").is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashes_made_in_reused_memory_are_standard_salted_and_reuse_the_slots() {
        let hasher = PasswordHasher::new(Argon2Params::default(), 2).expect("hasher");
        let jobs: Vec<_> = (0..6)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(SecretString::from("same password")).await })
            })
            .collect();
        let mut hashes = Vec::new();
        for job in jobs {
            hashes.push(job.await.expect("task").expect("hash"));
        }
        for phc in &hashes {
            assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
            // The argon2 crate's own verifier, not ours, accepts it.
            let parsed = PasswordHash::new(phc).expect("a PHC string");
            assert!(
                Argon2::default()
                    .verify_password(b"same password", &parsed)
                    .is_ok()
            );
            assert!(
                Argon2::default()
                    .verify_password(b"other password", &parsed)
                    .is_err()
            );
        }
        let salts: std::collections::HashSet<_> = hashes
            .iter()
            .map(|phc| phc.split('$').nth(4).expect("salt").to_owned())
            .collect();
        assert_eq!(salts.len(), hashes.len(), "every hash has its own salt");
        let kept = hasher.inner.arena.buffers.lock().expect("lock").len();
        assert!((1..=2).contains(&kept), "{kept} buffers kept");
    }
}
