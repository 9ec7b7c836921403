//! The physical limit of a login flood: the SPEC mandates two computations per login, one
//! Argon2id hash (the password check) and one RS256 signature (the access token), and a core
//! does one at a time, so no server on this machine can log in more than
//! `cores ÷ (hash time + signature time)` users per second. SPEC §10 asks Haven to reach 90% of
//! it.
//!
//! The signature is timed in this process too, with aws-lc-rs (the library Haven signs with) on
//! a freshly generated RSA-3072 key (Haven's size) over a message of an access token's length,
//! the same two ways (wall and thread CPU).
//!
//! Hashes are timed here, in this process, at Haven's default parameters
//! ([`haven::config::Argon2Params`]: m = 19456 KiB, t = 2, p = 1), on one thread while nothing
//! else of ours runs (before the load and again after it), two ways:
//!
//! - `haven::auth::password::hash`, Haven's own function: each call allocates its 19 MiB of
//!   blocks afresh, which depending on the allocator's state may be fresh pages; the hash then
//!   also pays ~4,900 page faults (seen here adding up to ~10 ms to a ~16 ms hash);
//! - the bare computation (`hash_password_into_with_memory`) on one block array reused across
//!   calls: the cost of a hash when memory is already resident, as it is in a busy server.
//!
//! Each way is timed by the wall clock (the median of the samples) and by the CPU time of its
//! thread (the mean: total ÷ samples, because this kernel accounts thread time in scheduler
//! ticks of a few milliseconds, too coarse for one hash). On a quiet machine they agree; on a
//! shared one the wall clock also counts the time other processes held the core. The limit uses
//! the fastest of these estimates, so that neither allocation overhead nor a busy machine can
//! flatter Haven's ratio.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use haven::config::Argon2Params;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::histogram::{Histogram, millis};

/// One way of hashing, timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Mean CPU time of the calling thread per hash.
    pub cpu: Duration,
    /// Median wall-clock time per hash.
    pub wall: Duration,
}

impl Timing {
    fn fastest(self) -> Duration {
        self.cpu.min(self.wall)
    }

    fn to_json(self) -> Value {
        json!({ "cpuMeanMs": millis(self.cpu), "wallMedianMs": millis(self.wall) })
    }
}

/// Hash and signature times and what they imply.
#[derive(Debug, Clone, Copy)]
pub struct HashLimit {
    /// The hash's share of the limit: the fastest estimate below.
    pub hash_time: Duration,
    /// The signature's share: the faster of its two estimates.
    pub sign_time: Duration,
    /// One RS256 signature with an RSA-3072 key.
    pub signature: Timing,
    /// `haven::auth::password::hash`, fresh memory each call.
    pub haven: Timing,
    /// The computation alone, on resident memory.
    pub compute: Timing,
    /// Wall time per hash with `cores` hashes running at once: the slowest thread's median
    /// ([`compute_in_parallel`]).
    pub parallel: Duration,
    /// How many hashes each way.
    pub samples: usize,
    /// `std::thread::available_parallelism()`.
    pub cores: usize,
}

/// CPU time used by the calling thread so far: the first field of `/proc/thread-self/schedstat`,
/// in nanoseconds (the scheduler's own accounting, finer than the 10 ms ticks of `stat`).
fn thread_cpu() -> anyhow::Result<Duration> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .context("reading /proc/thread-self/schedstat")?;
    let nanos = schedstat
        .split_whitespace()
        .next()
        .and_then(|field| field.parse().ok())
        .context("no run time in /proc/thread-self/schedstat")?;
    Ok(Duration::from_nanos(nanos))
}

/// The signing input of an access token as Haven issues it is ~560 bytes (base64url header and
/// claims); the hash inside the signature makes the length matter little.
const SIGNING_INPUT_LEN: usize = 560;

/// Wall time per hash while every core hashes at once, each thread on its own resident block
/// array (the median of each thread, the slowest of those): what memory bandwidth and the shared cache leave of the one-at-a-time speed. Not the
/// SPEC's limit (that is one hash timed alone); reported beside it to explain the gap.
fn compute_in_parallel(threads: usize, samples: usize) -> anyhow::Result<Duration> {
    let start = std::sync::Barrier::new(threads);
    let per_thread = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    compute_only(samples).map(|timing| timing.wall)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .map_err(|_| anyhow::anyhow!("a hashing thread panicked"))?
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    per_thread
        .into_iter()
        .max()
        .context("no hashing thread ran")
}

/// One RS256 signature (PKCS#1 v1.5, SHA-256) with a new RSA-3072 key, `samples` times.
fn sign_only(samples: usize) -> anyhow::Result<Timing> {
    let pair = KeyPair::generate(KeySize::Rsa3072)
        .map_err(|_| anyhow::anyhow!("generating an RSA-3072 key failed"))?;
    let rng = SystemRandom::new();
    let message = vec![b'e'; SIGNING_INPUT_LEN];
    let mut signature = vec![0_u8; pair.public_modulus_len()];
    time(samples, || {
        pair.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut signature)
            .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
        std::hint::black_box(&signature);
        Ok(())
    })
}

/// Runs `job` once untimed, then `samples` times.
fn time(samples: usize, mut job: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Timing> {
    job()?;
    let samples = samples.max(1);
    let mut wall = Histogram::new();
    let cpu_start = thread_cpu()?;
    for _ in 0..samples {
        let started = Instant::now();
        job()?;
        wall.record(started.elapsed());
    }
    let cpu = thread_cpu()?.saturating_sub(cpu_start);
    Ok(Timing {
        cpu: cpu / u32::try_from(samples)?,
        wall: wall.percentile(50.0).context("no hash was timed")?,
    })
}

/// Haven's default hash, computed into one block array allocated (and faulted in) once.
fn compute_only(samples: usize) -> anyhow::Result<Timing> {
    let defaults = Argon2Params::default();
    let params = Params::new(
        defaults.memory_kib,
        defaults.iterations,
        defaults.parallelism,
        Some(32),
    )
    .map_err(|error| anyhow::anyhow!("argon2 parameters: {error}"))?;
    let mut blocks = vec![Block::new(); params.block_count()];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut out = [0_u8; 32];
    time(samples, || {
        argon2
            .hash_password_into_with_memory(
                b"bench-harbor-lantern-7731",
                b"sixteen-byte-slt",
                &mut out,
                &mut blocks,
            )
            .map_err(|error| anyhow::anyhow!("argon2: {error}"))?;
        std::hint::black_box(&out);
        Ok(())
    })
}

impl HashLimit {
    /// Times `samples` hashes each way and `samples` signatures (after one untimed warm-up of
    /// each) on a blocking thread.
    pub async fn measure(samples: usize) -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        tokio::task::spawn_blocking(move || {
            let password = SecretString::from("bench-harbor-lantern-7731");
            let haven = time(samples, || {
                std::hint::black_box(haven::auth::password::hash(&password)?);
                Ok(())
            })?;
            let compute = compute_only(samples)?;
            let signature = sign_only(samples)?;
            let parallel = compute_in_parallel(cores, samples)?;
            Ok(Self {
                parallel,
                hash_time: haven.fastest().min(compute.fastest()),
                sign_time: signature.fastest(),
                signature,
                haven,
                compute,
                samples,
                cores,
            })
        })
        .await?
    }

    /// Of two measurements (before and after a load), the one with the faster login: this
    /// machine's speed drifts by ±15% from minute to minute, and the limit must not be the slow
    /// end of that.
    #[must_use]
    pub fn fastest(self, other: Self) -> Self {
        if other.login_time() < self.login_time() {
            other
        } else {
            self
        }
    }

    /// The CPU a login cannot do without: one hash and one signature.
    #[must_use]
    pub fn login_time(&self) -> Duration {
        self.hash_time + self.sign_time
    }

    /// `cores ÷ (hash time + signature time)`: logins per second if the cores did nothing but
    /// hash passwords and sign tokens.
    #[must_use]
    pub fn limit_per_sec(&self) -> f64 {
        self.cores as f64 / self.login_time().as_secs_f64()
    }

    /// `rate` as a percentage of [`Self::limit_per_sec`].
    #[must_use]
    pub fn percent_of_limit(&self, rate: f64) -> f64 {
        100.0 * rate / self.limit_per_sec()
    }

    /// The figures as JSON.
    #[must_use]
    pub fn to_json(self) -> Value {
        json!({
            "algorithm": "argon2id m=19456 t=2 p=1",
            "hashMs": millis(self.hash_time),
            "signature": "RS256, RSA-3072 (aws-lc-rs)",
            "signMs": millis(self.sign_time),
            "signTiming": self.signature.to_json(),
            "loginMs": millis(self.login_time()),
            "havenHash": self.haven.to_json(),
            "computeOnly": self.compute.to_json(),
            "parallelWallMedianMs": millis(self.parallel),
            "samples": self.samples,
            "cores": self.cores,
            "limitPerSec": self.limit_per_sec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_cpu_clock_advances_with_work() {
        let before = thread_cpu().expect("schedstat is readable");
        let mut x = 0_u64;
        for i in 0..5_000_000_u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        assert!(thread_cpu().expect("schedstat is readable") > before);
    }

    #[test]
    fn an_rs256_signature_takes_measurable_time() {
        let timing = sign_only(2).expect("aws-lc-rs signs");
        assert!(timing.wall > Duration::ZERO);
    }

    #[test]
    fn the_limit_is_cores_over_hash_and_signature_time() {
        let ms = Duration::from_millis;
        let limit = HashLimit {
            hash_time: ms(38),
            sign_time: ms(2),
            signature: Timing {
                cpu: ms(2),
                wall: ms(3),
            },
            haven: Timing {
                cpu: ms(44),
                wall: ms(45),
            },
            compute: Timing {
                cpu: ms(41),
                wall: ms(40),
            },
            parallel: ms(44),
            samples: 10,
            cores: 2,
        };
        assert!((limit.limit_per_sec() - 50.0).abs() < 1e-9);
        assert!((limit.percent_of_limit(45.0) - 90.0).abs() < 1e-9);
        assert_eq!(limit.compute.fastest(), ms(40));
    }
}
