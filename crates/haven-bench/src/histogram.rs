//! Latency samples and their percentiles.
//!
//! A run records a few thousand to a few hundred thousand latencies, so every sample is kept and
//! sorted once at the end: exact percentiles, no bucket error, no dependency. Percentiles use the
//! nearest-rank definition (the smallest sample with at least `p`% of the samples at or below
//! it), so every figure reported is a latency that was really measured.

use std::time::Duration;

use serde_json::{Value, json};

/// Every latency of one kind of request.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    samples: Vec<Duration>,
    sorted: bool,
}

impl Histogram {
    /// An empty histogram.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one latency.
    pub fn record(&mut self, latency: Duration) {
        self.samples.push(latency);
        self.sorted = false;
    }

    /// Adds every sample of `other` (one client's histogram into the run's).
    pub fn merge(&mut self, other: Self) {
        self.samples.extend(other.samples);
        self.sorted = false;
    }

    /// How many samples there are.
    #[must_use]
    pub fn count(&self) -> usize {
        self.samples.len()
    }

    fn sort(&mut self) {
        if !self.sorted {
            self.samples.sort_unstable();
            self.sorted = true;
        }
    }

    /// The nearest-rank `p`th percentile (`p` in 0..=100), or `None` without samples.
    pub fn percentile(&mut self, p: f64) -> Option<Duration> {
        self.sort();
        let n = self.samples.len();
        if n == 0 {
            return None;
        }
        let p = p.clamp(0.0, 100.0);
        // rank = ceil(p/100 × n), at least 1; computed in integers from a per-mille figure so
        // that 50% of 10 samples is exactly rank 5, free of float rounding.
        let per_mille = (p * 10.0).round() as usize;
        let rank = (per_mille * n).div_ceil(1000).max(1);
        self.samples.get(rank - 1).copied()
    }

    /// The largest sample.
    pub fn max(&mut self) -> Option<Duration> {
        self.sort();
        self.samples.last().copied()
    }

    /// p50, p90, p99 and max.
    pub fn summary(&mut self) -> Summary {
        Summary {
            count: self.count(),
            p50: self.percentile(50.0),
            p90: self.percentile(90.0),
            p99: self.percentile(99.0),
            max: self.max(),
        }
    }
}

/// The percentiles a report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// How many samples.
    pub count: usize,
    /// Median.
    pub p50: Option<Duration>,
    /// 90th percentile.
    pub p90: Option<Duration>,
    /// 99th percentile.
    pub p99: Option<Duration>,
    /// Slowest.
    pub max: Option<Duration>,
}

/// Milliseconds with a fraction, for reports.
#[must_use]
pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// `12.34 ms`, or `-` for a missing figure.
#[must_use]
pub fn fmt_ms(duration: Option<Duration>) -> String {
    duration.map_or_else(|| "-".to_owned(), |d| format!("{:.2} ms", millis(d)))
}

impl Summary {
    /// `{count, p50Ms, p90Ms, p99Ms, maxMs}`; missing figures are `null`.
    #[must_use]
    pub fn to_json(self) -> Value {
        let ms = |d: Option<Duration>| d.map(millis);
        json!({
            "count": self.count,
            "p50Ms": ms(self.p50),
            "p90Ms": ms(self.p90),
            "p99Ms": ms(self.p99),
            "maxMs": ms(self.max),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn of(values: impl IntoIterator<Item = u64>) -> Histogram {
        let mut histogram = Histogram::new();
        for value in values {
            histogram.record(ms(value));
        }
        histogram
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles() {
        let mut histogram = Histogram::new();
        assert_eq!(histogram.percentile(50.0), None);
        assert_eq!(histogram.max(), None);
        assert_eq!(histogram.summary().count, 0);
    }

    #[test]
    fn percentiles_follow_the_nearest_rank_definition() {
        // 1..=100 ms recorded in reverse: sorting must happen before ranking.
        let mut histogram = of((1..=100).rev());
        assert_eq!(histogram.percentile(0.0), Some(ms(1)));
        assert_eq!(histogram.percentile(50.0), Some(ms(50)));
        assert_eq!(histogram.percentile(90.0), Some(ms(90)));
        assert_eq!(histogram.percentile(99.0), Some(ms(99)));
        assert_eq!(histogram.percentile(99.9), Some(ms(100)));
        assert_eq!(histogram.percentile(100.0), Some(ms(100)));
        assert_eq!(histogram.max(), Some(ms(100)));
    }

    #[test]
    fn small_samples_round_the_rank_up() {
        let mut histogram = of([30, 10, 20]);
        // ceil(0.5 × 3) = 2nd sample; ceil(0.99 × 3) = 3rd.
        assert_eq!(histogram.percentile(50.0), Some(ms(20)));
        assert_eq!(histogram.percentile(99.0), Some(ms(30)));
        let mut single = of([7]);
        assert_eq!(single.summary().p99, Some(ms(7)));
        assert_eq!(single.percentile(1.0), Some(ms(7)));
    }

    #[test]
    fn merging_pools_the_samples_and_resorts() {
        let mut a = of([5, 1]);
        assert_eq!(a.max(), Some(ms(5)));
        a.merge(of([9, 3]));
        assert_eq!(a.count(), 4);
        assert_eq!(a.percentile(50.0), Some(ms(3)));
        assert_eq!(a.max(), Some(ms(9)));
    }

    #[test]
    fn summaries_render_milliseconds() {
        let summary = of([2]).summary();
        assert_eq!(summary.to_json()["p99Ms"], json!(2.0));
        assert_eq!(fmt_ms(Some(Duration::from_micros(1500))), "1.50 ms");
        assert_eq!(fmt_ms(None), "-");
    }
}
