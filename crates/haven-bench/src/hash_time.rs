//! The physical limit of a login flood: one Argon2id hash per login, at most one hash per core
//! at a time, so no server on this machine can log in more than `cores ÷ hash time` users per
//! second. SPEC §10 asks Haven to reach 90% of it.
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

/// Hash times and what they imply.
#[derive(Debug, Clone, Copy)]
pub struct HashLimit {
    /// The basis of the limit: the fastest estimate below.
    pub hash_time: Duration,
    /// `haven::auth::password::hash`, fresh memory each call.
    pub haven: Timing,
    /// The computation alone, on resident memory.
    pub compute: Timing,
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
    /// Times `samples` hashes each way (after one untimed warm-up) on a blocking thread.
    pub async fn measure(samples: usize) -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        tokio::task::spawn_blocking(move || {
            let password = SecretString::from("bench-harbor-lantern-7731");
            let haven = time(samples, || {
                std::hint::black_box(haven::auth::password::hash(&password)?);
                Ok(())
            })?;
            let compute = compute_only(samples)?;
            Ok(Self {
                hash_time: haven.fastest().min(compute.fastest()),
                haven,
                compute,
                samples,
                cores,
            })
        })
        .await?
    }

    /// Of two measurements (before and after a load), the one with the faster hash: this
    /// machine's speed drifts by ±15% from minute to minute, and the limit must not be the slow
    /// end of that.
    #[must_use]
    pub fn fastest(self, other: Self) -> Self {
        if other.hash_time < self.hash_time {
            other
        } else {
            self
        }
    }

    /// `cores ÷ hash time`: logins per second if the cores did nothing but hash.
    #[must_use]
    pub fn limit_per_sec(&self) -> f64 {
        self.cores as f64 / self.hash_time.as_secs_f64()
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
            "havenHash": self.haven.to_json(),
            "computeOnly": self.compute.to_json(),
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
    fn the_limit_is_cores_over_hash_time() {
        let ms = Duration::from_millis;
        let limit = HashLimit {
            hash_time: ms(40),
            haven: Timing {
                cpu: ms(44),
                wall: ms(45),
            },
            compute: Timing {
                cpu: ms(41),
                wall: ms(40),
            },
            samples: 10,
            cores: 2,
        };
        assert!((limit.limit_per_sec() - 50.0).abs() < 1e-9);
        assert!((limit.percent_of_limit(45.0) - 90.0).abs() < 1e-9);
        assert_eq!(limit.compute.fastest(), ms(40));
    }
}
