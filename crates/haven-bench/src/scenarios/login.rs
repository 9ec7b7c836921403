//! Login flood (SPEC §10): N clients, each logging in as its own CLINICIAN in a loop, while a
//! prober checks that `GET /health` stays fast. One user per client keeps the per-account
//! lockout out of the picture (it only counts failures, but no two logins of one account then
//! race either).
//!
//! Every login costs one Argon2id verification and one RS256 signature, so the ceiling is
//! `cores ÷ (hash time + signature time)` ([`HashLimit`]); the report gives the throughput as a
//! share of it. A second prober reads one patient as the practice's ADMIN meanwhile: SPEC §10
//! wants reads to stay fast while logins saturate the cores.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use hyper::body::Bytes;
use serde_json::json;
use tokio::task::JoinSet;

use super::{Report, cpu_text, errors_text, labelled, latency_text, memory_text};
use crate::cli::LoginArgs;
use crate::cpu;
use crate::hash_time::{HashLimit, Timing};
use crate::histogram::{Summary, fmt_ms, millis};
use crate::http::Api;
use crate::load::{self, LoadReport, ProbeReport, Prober};
use crate::memory::Memory;
use crate::seed;
use crate::target::{self, Target};

const LOGIN: &str = "/api/auth/login";
const PROBE_EVERY: Duration = Duration::from_millis(10);

/// Seeds, measures the hash, floods, and reports.
pub async fn run(target: &Target, args: &LoginArgs) -> anyhow::Result<Report> {
    let concurrency = usize::from(args.concurrency);
    // Timed while the server is idle and nothing of ours competes for the cores: now, and again
    // after the load.
    let limit = HashLimit::measure(usize::from(args.hash_samples)).await?;

    let org = seed::organization(target).await?;
    let accounts = seed::users(&target.api, &org, "CLINICIAN", concurrency).await?;
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        accounts
            .iter()
            .map(|a| json!({ "email": a.email, "password": a.password }).to_string())
            .map(Bytes::from)
            .collect(),
    );

    let patient = seed::patients(&target.api, &org, 0, 1, 1).await?;
    let read_path = format!("/api/patients/{}", patient[0]);

    let api = Api::new(target.api.base())?;
    warm_up(&api, &bodies).await?;
    let prober = Prober::start(Api::new(target.api.base())?, "/health", None, PROBE_EVERY);
    let reader = Prober::start(
        Api::new(target.api.base())?,
        &read_path,
        Some(&org.admin_token),
        PROBE_EVERY,
    );
    let (cpu_before, started) = (target.cpu_snapshot(), Instant::now());
    let flood = {
        let (api, bodies) = (api.clone(), Arc::clone(&bodies));
        load::run(concurrency, args.duration, StatusCode::OK, move |client| {
            let (api, body) = (api.clone(), bodies[client].clone());
            async move { Ok(api.post_raw(LOGIN, body, None).await?.status) }
        })
        .await?
    };
    let cpu = cpu::Usage::between(cpu_before, target.cpu_snapshot(), started.elapsed());
    let health = prober.stop().await?;
    let reads = reader.stop().await?;
    let memory = (target.idle_memory(), target.memory());
    let limit = limit.fastest(HashLimit::measure(usize::from(args.hash_samples)).await?);

    Ok(report(
        target,
        args,
        Measured {
            limit,
            flood,
            health,
            reads,
            memory,
            cpu,
        },
    ))
}

/// Everything one run measured.
struct Measured {
    limit: HashLimit,
    flood: LoadReport,
    health: ProbeReport,
    /// `GET /api/patients/{id}` as the ADMIN during the flood.
    reads: ProbeReport,
    /// Idle, and after the load.
    memory: (Option<Memory>, Option<Memory>),
    cpu: cpu::Usage,
}

/// One login per account, all at once: checks every credential before the clock starts and
/// leaves one open connection per client in the pool.
async fn warm_up(api: &Api, bodies: &Arc<Vec<Bytes>>) -> anyhow::Result<()> {
    let mut logins = JoinSet::new();
    for body in bodies.iter().cloned() {
        let api = api.clone();
        logins.spawn(async move { api.post_raw(LOGIN, body, None).await });
    }
    while let Some(answer) = logins.join_next().await {
        answer??.json(StatusCode::OK, "warm-up login")?;
    }
    Ok(())
}

fn report(target: &Target, args: &LoginArgs, measured: Measured) -> Report {
    let Measured {
        limit,
        mut flood,
        mut health,
        mut reads,
        memory: (idle, after),
        cpu,
    } = measured;
    let logins = flood.latencies.summary();
    let probes = health.latencies.summary();
    let read_probes = reads.latencies.summary();
    let percent = limit.percent_of_limit(flood.ok_per_sec());
    // The same ratio against the cores other processes left (known only when haven's own CPU
    // is, i.e. with --start): a shared machine cannot give Haven what it gives others.
    let left = limit.cores as f64 - cpu.other();
    let available = cpu
        .haven
        .map(|_| percent * limit.cores as f64 / left.max(0.01));
    let errors = errors_text(&flood.errors);
    let memory = memory_text(idle, after);
    let mut rows = vec![
        ("scenario", "login flood (Argon2id)".to_owned()),
        (
            "target",
            format!("{} ({})", target.api.base(), target.database()),
        ),
        (
            "concurrency",
            format!("{} clients, one CLINICIAN each", args.concurrency),
        ),
        (
            "duration",
            format!(
                "{:?} requested, {:.2} s elapsed",
                args.duration,
                flood.elapsed.as_secs_f64()
            ),
        ),
        (
            "requests",
            format!("{} ({} ok; errors: {errors})", flood.requests, flood.ok),
        ),
        ("throughput", format!("{:.1} logins/s", flood.ok_per_sec())),
        ("login latency", latency_text(logins)),
        ("/health latency", probe_text(probes, health.failures)),
        (
            "patient read latency",
            probe_text(read_probes, reads.failures),
        ),
        ("memory", memory),
        (
            "argon2id hash",
            format!(
                "{:.2} ms (m=19456 KiB t=2 p=1), the fastest of: haven::auth::password::hash \
                 {}; on resident memory {} ({} hashes each; timed before and after the load, \
                 the faster set shown); with {} hashing at once on resident memory: {:.2} ms \
                 each (wall, median)",
                millis(limit.hash_time),
                timing(limit.haven),
                timing(limit.compute),
                limit.samples,
                limit.cores,
                millis(limit.parallel),
            ),
        ),
        (
            "rs256 signature",
            format!(
                "{:.2} ms (RSA-3072, aws-lc-rs), the faster of {} ({} signatures, timed with the \
                 hashes)",
                millis(limit.sign_time),
                timing(limit.signature),
                limit.samples,
            ),
        ),
        (
            "limit",
            format!(
                "{} cores ÷ ({:.2} ms hash + {:.2} ms signature) = {:.1} logins/s",
                limit.cores,
                millis(limit.hash_time),
                millis(limit.sign_time),
                limit.limit_per_sec()
            ),
        ),
        (
            "vs limit",
            match available {
                Some(available) => format!(
                    "{percent:.1}% (SPEC §10 target: ≥ 90%); {available:.1}% of the limit on \
                     the {left:.2} cores other processes left"
                ),
                None => format!("{percent:.1}% (SPEC §10 target: ≥ 90%)"),
            },
        ),
        (
            "cpu during load",
            cpu_text(&cpu, flood.elapsed, flood.ok, "login"),
        ),
    ];
    let notes = target.notes();
    rows.extend(notes.iter().map(|note| ("note", note.clone())));
    let json = json!({
        "scenario": "login",
        "target": target.to_json(),
        "concurrency": args.concurrency,
        "durationSecs": args.duration.as_secs_f64(),
        "elapsedSecs": flood.elapsed.as_secs_f64(),
        "requests": flood.requests,
        "ok": flood.ok,
        "errors": flood.errors,
        "requestsPerSec": flood.requests_per_sec(),
        "okPerSec": flood.ok_per_sec(),
        "latency": logins.to_json(),
        "health": { "latency": probes.to_json(), "failures": health.failures },
        "patientReads": { "latency": read_probes.to_json(), "failures": reads.failures },
        "memory": target::memory_json(idle, after),
        "hash": limit.to_json(),
        "percentOfLimit": percent,
        "percentOfAvailableLimit": available,
        "cpu": cpu.to_json(),
        "notes": notes,
    });
    Report {
        rows: labelled(rows),
        json,
    }
}

/// `p50 1.20 ms  p99 4.10 ms  max 9.00 ms  (5000 probes every 10ms, 0 failed)`.
fn probe_text(probes: Summary, failures: u64) -> String {
    format!(
        "p50 {}  p99 {}  max {}  ({} probes every {PROBE_EVERY:?}, {failures} failed)",
        fmt_ms(probes.p50),
        fmt_ms(probes.p99),
        fmt_ms(probes.max),
        probes.count,
    )
}

/// `24.10 ms wall (median), 24.00 ms CPU (mean)`.
fn timing(timing: Timing) -> String {
    format!(
        "{:.2} ms wall (median), {:.2} ms CPU (mean)",
        millis(timing.wall),
        millis(timing.cpu)
    )
}
