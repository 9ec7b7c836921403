//! The physical limit of a login flood: one Argon2id hash per login, at most one hash per core
//! at a time, so no server on this machine can log in more than `cores ÷ hash time` users per
//! second. SPEC §10 asks Haven to reach 90% of it.
//!
//! The hash is timed here, in this process, with Haven's own code and default parameters
//! (`haven::auth::password::hash`: m = 19456 KiB, t = 2, p = 1), on one thread while nothing
//! else of ours runs. A verification, which is what a login costs, recomputes the same hash.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};

use crate::histogram::{Histogram, millis};

/// One hash's time and what it implies.
#[derive(Debug, Clone, Copy)]
pub struct HashLimit {
    /// The median of the timed hashes.
    pub hash_time: Duration,
    /// How many were timed.
    pub samples: usize,
    /// `std::thread::available_parallelism()`.
    pub cores: usize,
}

impl HashLimit {
    /// Times `samples` hashes (after one untimed warm-up) on a blocking thread.
    pub async fn measure(samples: usize) -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let hash_time = tokio::task::spawn_blocking(move || -> anyhow::Result<Duration> {
            let password = SecretString::from("bench-harbor-lantern-7731");
            haven::auth::password::hash(&password)?;
            let mut times = Histogram::new();
            for _ in 0..samples.max(1) {
                let started = Instant::now();
                std::hint::black_box(haven::auth::password::hash(&password)?);
                times.record(started.elapsed());
            }
            times
                .percentile(50.0)
                .ok_or_else(|| anyhow::anyhow!("no hash was timed"))
        })
        .await??;
        Ok(Self {
            hash_time,
            samples,
            cores,
        })
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

    /// `{hashMs, samples, cores, limitPerSec}`.
    #[must_use]
    pub fn to_json(self) -> Value {
        json!({
            "algorithm": "argon2id m=19456 t=2 p=1",
            "hashMs": millis(self.hash_time),
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
    fn the_limit_is_cores_over_hash_time() {
        let limit = HashLimit {
            hash_time: Duration::from_millis(40),
            samples: 10,
            cores: 2,
        };
        assert!((limit.limit_per_sec() - 50.0).abs() < 1e-9);
        assert!((limit.percent_of_limit(45.0) - 90.0).abs() < 1e-9);
    }
}
