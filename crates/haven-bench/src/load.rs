//! The load runner shared by every scenario: N clients, each looping one kind of request (or,
//! for library-level scenarios, one operation) for a fixed time, plus an optional prober that
//! samples a cheap endpoint meanwhile.
//!
//! A client sends its next request as soon as the previous one is answered (a closed loop), so
//! the offered load adapts to the server: throughput is what the server sustains at N requests
//! in flight, and latency is what a caller waits. No client starts a request after the deadline;
//! requests in flight then are completed and counted, and the elapsed time runs until the last
//! one ends.
//!
//! [`run_open`] is the open loop the SPEC asks latency targets to be measured with: requests
//! are sent on a fixed schedule whether or not earlier ones were answered, and each latency
//! counts from its scheduled send time (no coordinated omission).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use crate::cli::LoadArgs;
use crate::histogram::Histogram;
use crate::http::Api;

/// What the clients of one run did.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Wall time from the first request to the last answer.
    pub elapsed: Duration,
    /// Requests answered, whatever the answer (transport failures included).
    pub requests: u64,
    /// Requests answered with the expected status.
    pub ok: u64,
    /// The others, by status code (`"401"`) or `"transport"` for a failed connection (or, for
    /// [`run_ops`], by the kind of error the operation named).
    pub errors: BTreeMap<String, u64>,
    /// Latencies of the successful requests only: a fast refusal must not flatter the figures.
    pub latencies: Histogram,
}

impl LoadReport {
    /// Successful requests per second.
    #[must_use]
    pub fn ok_per_sec(&self) -> f64 {
        per_sec(self.ok, self.elapsed)
    }

    /// All answered requests per second.
    #[must_use]
    pub fn requests_per_sec(&self) -> f64 {
        per_sec(self.requests, self.elapsed)
    }

    fn absorb(&mut self, other: Self) {
        self.requests += other.requests;
        self.ok += other.ok;
        for (key, count) in other.errors {
            *self.errors.entry(key).or_default() += count;
        }
        self.latencies.merge(other.latencies);
    }

    fn tally(&mut self, outcome: Outcome, took: Duration) {
        self.requests += 1;
        match outcome {
            Ok(()) => {
                self.ok += 1;
                self.latencies.record(took);
            }
            Err(kind) => *self.errors.entry(kind).or_default() += 1,
        }
    }
}

fn per_sec(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// How one operation ended: counted, or failed with a kind of error to tally it under.
pub type Outcome = Result<(), String>;

/// Runs `concurrency` clients for `duration`. Client `i` calls `request(i)` in a loop; a request
/// succeeds when it answers `expected`.
pub async fn run<F, Fut>(
    concurrency: usize,
    duration: Duration,
    expected: StatusCode,
    request: F,
) -> anyhow::Result<LoadReport>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<StatusCode>> + Send,
{
    run_ops(concurrency, duration, move |client| {
        let answer = request(client);
        async move {
            match answer.await {
                Ok(status) if status == expected => Ok(()),
                Ok(status) => Err(status.as_u16().to_string()),
                Err(_) => Err("transport".to_owned()),
            }
        }
    })
    .await
}

/// Runs `concurrency` workers for `duration`, each calling `operation(i)` in a closed loop, as
/// [`run`] does with requests; for scenarios that drive Haven's library directly.
pub async fn run_ops<F, Fut>(
    concurrency: usize,
    duration: Duration,
    operation: F,
) -> anyhow::Result<LoadReport>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let request = Arc::new(operation);
    let started = Instant::now();
    let deadline = started + duration;
    let clients: Vec<_> = (0..concurrency)
        .map(|client| {
            let request = Arc::clone(&request);
            tokio::spawn(async move {
                let mut tally = LoadReport::default();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let outcome = request(client).await;
                    tally.tally(outcome, sent.elapsed());
                }
                tally
            })
        })
        .collect();
    let mut report = LoadReport::default();
    for client in clients {
        report.absorb(client.await?);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Runs the load `args` asks for: `--concurrency` clients in a closed loop ([`run`]), or with
/// `--rate` the open loop ([`run_open`]) with at most `--concurrency` requests in flight.
/// `request(i)` gets the client's number (closed) or the request's number modulo the
/// concurrency (open).
pub async fn drive<F, Fut>(
    args: &LoadArgs,
    expected: StatusCode,
    request: F,
) -> anyhow::Result<LoadReport>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<StatusCode>> + Send + 'static,
{
    let concurrency = usize::from(args.concurrency);
    match args.rate {
        Some(rate) => {
            run_open(rate, args.duration, concurrency, expected, |i| {
                request(usize::try_from(i).unwrap_or_default() % concurrency.max(1))
            })
            .await
        }
        None => run(concurrency, args.duration, expected, request).await,
    }
}

/// How [`drive`] runs `args`, for a report: `"closed loop: 32 clients"` or the open loop's
/// rate.
#[must_use]
pub fn mode_text(args: &LoadArgs, unit: &str) -> String {
    match args.rate {
        Some(rate) => format!(
            "open loop: {rate} {unit}/s on a fixed schedule, latency from each scheduled send \
             time, at most {} in flight",
            args.concurrency
        ),
        None => format!("closed loop: {} clients", args.concurrency),
    }
}

/// Sends `rate` requests per second for `duration` on a fixed schedule: request `i` is due at
/// `i / rate` seconds, is sent then (or as soon as one of `max_in_flight` slots is free) and its
/// latency counts from when it was due. Succeeds when it answers `expected`.
pub async fn run_open<F, Fut>(
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    expected: StatusCode,
    request: F,
) -> anyhow::Result<LoadReport>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<StatusCode>> + Send + 'static,
{
    let total = ((rate * duration.as_secs_f64()).floor() as u64).max(1);
    let slots = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let started = Instant::now();
    let mut report = LoadReport::default();
    let mut running = JoinSet::new();
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let (answer, slots) = (request(i), Arc::clone(&slots));
        running.spawn(async move {
            let _slot = slots.acquire_owned().await;
            let outcome = match answer.await {
                Ok(status) if status == expected => Ok(()),
                Ok(status) => Err(status.as_u16().to_string()),
                Err(_) => Err("transport".to_owned()),
            };
            (outcome, due.elapsed())
        });
        while let Some(done) = running.try_join_next() {
            let (outcome, took) = done?;
            report.tally(outcome, took);
        }
    }
    while let Some(done) = running.join_next().await {
        let (outcome, took) = done?;
        report.tally(outcome, took);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Latencies of a cheap endpoint sampled while a load runs.
#[derive(Debug, Default)]
pub struct ProbeReport {
    /// Latencies of every answered probe (successful or not).
    pub latencies: Histogram,
    /// Probes that failed or did not answer 200.
    pub failures: u64,
}

/// A running prober; [`Prober::stop`] ends it and returns what it saw.
#[derive(Debug)]
pub struct Prober {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<ProbeReport>,
}

impl Prober {
    /// Starts `GET path` every `every` on `api` (which should be a pool of its own), with
    /// `token` as its bearer if given. A probe slower than the period delays the next one
    /// instead of queueing a burst.
    #[must_use]
    pub fn start(api: Api, path: &str, token: Option<&str>, every: Duration) -> Self {
        let (path, token) = (path.to_owned(), token.map(str::to_owned));
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut report = ProbeReport::default();
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticks.tick() => {}
                }
                let sent = Instant::now();
                let answer = match &token {
                    Some(token) => api.get_with(&path, token).await,
                    None => api.get(&path).await,
                };
                match answer {
                    Ok(answer) => {
                        report.latencies.record(sent.elapsed());
                        if answer.status != StatusCode::OK {
                            report.failures += 1;
                        }
                    }
                    Err(_) => report.failures += 1,
                }
            }
            report
        });
        Self { stop, task }
    }

    /// Stops probing and returns the samples.
    pub async fn stop(self) -> anyhow::Result<ProbeReport> {
        // The task may already have ended only by panicking; `await` reports that.
        let _ = self.stop.send(());
        Ok(self.task.await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_runner_counts_successes_and_groups_failures_by_status() {
        let report = run(
            3,
            Duration::from_millis(30),
            StatusCode::OK,
            |client| async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                match client {
                    0 => Ok(StatusCode::OK),
                    1 => Ok(StatusCode::TOO_MANY_REQUESTS),
                    _ => Err(anyhow::anyhow!("connection refused")),
                }
            },
        )
        .await
        .expect("the clients ran");
        let failed: u64 = report.errors.values().sum();
        assert!(report.ok > 0);
        assert_eq!(report.requests, report.ok + failed);
        assert_eq!(report.latencies.count() as u64, report.ok);
        assert!(report.errors.contains_key("429"));
        assert!(report.errors.contains_key("transport"));
        assert!(report.elapsed >= Duration::from_millis(30));
    }

    #[tokio::test]
    async fn the_open_loop_sends_on_schedule_and_counts_from_the_due_time() {
        let mut report = run_open(
            200.0,
            Duration::from_millis(50),
            2,
            StatusCode::OK,
            |i| async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(if i % 5 == 0 {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::OK
                })
            },
        )
        .await
        .expect("the requests ran");
        assert_eq!(report.requests, 10);
        assert_eq!(report.errors.get("409"), Some(&2));
        assert_eq!(report.ok, 8);
        // Two in flight at most, 20 ms each: the later ones waited, and that counts.
        assert!(report.latencies.max() >= Some(Duration::from_millis(40)));
    }

    #[test]
    fn rates_are_per_second_of_elapsed_time() {
        let report = LoadReport {
            elapsed: Duration::from_secs(4),
            requests: 10,
            ok: 8,
            ..LoadReport::default()
        };
        assert!((report.ok_per_sec() - 2.0).abs() < 1e-9);
        assert!((report.requests_per_sec() - 2.5).abs() < 1e-9);
        assert!(per_sec(5, Duration::ZERO).abs() < 1e-9);
    }
}
