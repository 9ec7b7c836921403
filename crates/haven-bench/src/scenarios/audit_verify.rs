//! `haven audit verify` at scale (SPEC §10: ≥ 500,000 rows/s), and on the way the sealer's rate.
//!
//! A million events through the API would take minutes of requests and measure those; instead
//! they go straight into the outbox of one new organization, in one `INSERT ... SELECT ... FROM
//! generate_series` as the owner role, shaped like what a patient read records (ids in time
//! order, as Haven's UUIDv7 are). Then:
//!
//! 1. the running server's background sealer chains them (every 200 ms a batch of up to 5,000,
//!    see `haven::audit::seal`); the chain head is polled until it reaches the last event, and
//!    the outbox must then be empty: *sealing rate* = events ÷ that time;
//! 2. `haven audit verify --org <id>` runs beside the server on the same data directory (it
//!    attaches to the running cluster), re-hashes the chain and prints
//!    `verified N entries in S s (R entries/s)`: its own figure, which excludes its start-up, is
//!    the one compared with the target; the command's wall time is reported too.

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use serde_json::json;
use sqlx::Connection as _;
use uuid::Uuid;

use super::{Report, cpu_text, labelled, memory_text, verdict};
use crate::cli::AuditVerifyArgs;
use crate::cpu;
use crate::db;
use crate::target::{self, Target};

/// SPEC §10.
const TARGET_ROWS_PER_SEC: f64 = 500_000.0;
/// How often the chain head is read while the sealer works.
const POLL: Duration = Duration::from_millis(100);
/// How often progress goes to stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

/// The events: organization `$1`, `$2` of them, ids `<$3 as 48-bit ms>-7000-8<i>`: UUIDv7-shaped
/// and in insertion order, like Haven's; one actor, a distinct patient and request id each.
const INSERT: &str = "\
INSERT INTO audit_outbox (organization_id, id, occurred_at, user_id, role, action, entity_type, \
    entity_id, patient_id, access_method, outcome, ip, user_agent, request_id, details) \
SELECT $1, \
    (lpad(to_hex($3::bigint), 12, '0') || '70008' || lpad(to_hex(i), 15, '0'))::uuid, \
    now() - ($2::bigint - i) * interval '1 millisecond', \
    $4, 'ADMIN', 'PATIENT_READ', 'patient', x.patient::text, x.patient, 'normal', 'success', \
    '127.0.0.1'::inet, NULL, x.request::text, '{}'::jsonb \
FROM generate_series(1, $2::bigint) AS i, \
    LATERAL (SELECT md5(i::text)::uuid AS patient, md5((-i)::text)::uuid AS request) AS x";

/// Inserts, waits for the sealer, verifies, reports.
pub async fn run(target: &Target, args: &AuditVerifyArgs) -> anyhow::Result<Report> {
    let server = target.started()?;
    let rows = i64::try_from(args.rows)?;
    let mut conn = db::owner(server).await?;
    let org = db::organizations(&mut conn, "Bench audit-verify", 1)
        .await?
        .remove(0);
    let now_ms = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;

    let started = Instant::now();
    sqlx::query(INSERT)
        .bind(org)
        .bind(rows)
        .bind(now_ms)
        .bind(Uuid::now_v7())
        .execute(&mut conn)
        .await
        .context("inserting the events into the outbox")?;
    let inserted = started.elapsed();

    let (cpu_before, started) = (target.cpu_snapshot(), Instant::now());
    wait_until_sealed(&mut conn, org, rows, args.seal_timeout).await?;
    let sealed_in = started.elapsed();
    let seal_cpu = cpu::Usage::between(cpu_before, target.cpu_snapshot(), sealed_in);
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_outbox WHERE organization_id = $1")
            .bind(org)
            .fetch_one(&mut conn)
            .await?;
    anyhow::ensure!(
        left == 0,
        "the chain is complete but {left} events are still in the outbox"
    );
    conn.close().await?;
    let after_sealing = target.memory();

    let run = verify_once(target, org, args.segments).await?;
    // At least the inserted events: the breach detector may have added its own to the chain
    // (one user reading a million patients opens an incident); run with
    // `--haven-env HAVEN_BREACH_DETECTOR_SECS=off` to verify exactly the inserted ones.
    anyhow::ensure!(
        run.verified.entries >= args.rows,
        "haven audit verify checked {} entries, {} were sealed",
        run.verified.entries,
        args.rows
    );
    let ab = segments_ab(target, org, args).await?;

    Ok(report(
        target,
        args,
        Measured {
            org,
            inserted,
            sealed_in,
            seal_cpu,
            after_sealing,
            run,
            verify_peak_kib: children_peak_kib(),
            ab,
        },
    ))
}

/// One `haven audit verify` of the organization's chain.
struct VerifyRun {
    segments: Option<u16>,
    verified: Verified,
    wall: Duration,
    cpu: cpu::Usage,
    /// The time `cpu` covers: the command and a short settling wait.
    window: Duration,
}

/// Runs `haven audit verify --org <org> [--segments N]` beside the server.
async fn verify_once(
    target: &Target,
    org: Uuid,
    segments: Option<u16>,
) -> anyhow::Result<VerifyRun> {
    let server = target.started()?;
    let mut command = server.command();
    command.args(["audit", "verify", "--org", &org.to_string()]);
    if let Some(n) = segments {
        command.args(["--segments", &n.to_string()]);
    }
    let (cpu_before, started) = (target.cpu_snapshot(), Instant::now());
    let output = command
        .stdin(Stdio::null())
        .output()
        .await
        .context("running haven audit verify")?;
    let wall = started.elapsed();
    // Its backend's time shows once the postmaster has reaped it.
    tokio::time::sleep(crate::pgbench::SETTLE).await;
    let window = started.elapsed();
    let cpu = cpu::Usage::between(cpu_before, target.cpu_snapshot(), window);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "haven audit verify failed ({}):\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let verified = Verified::parse(&stdout)
        .with_context(|| format!("haven audit verify printed no summary:\n{stdout}"))?;
    Ok(VerifyRun {
        segments,
        verified,
        wall,
        cpu,
        window,
    })
}

/// `--ab-segments A,B`: A and B alternately on the same chain, A first in odd pairs and B first
/// in even ones, so a drift of the machine's speed falls on both sides.
async fn segments_ab(
    target: &Target,
    org: Uuid,
    args: &AuditVerifyArgs,
) -> anyhow::Result<Vec<VerifyRun>> {
    let [a, b] = match args.ab_segments.as_slice() {
        [] => return Ok(Vec::new()),
        [a, b] => [*a, *b],
        other => bail!("--ab-segments takes two counts, got {}", other.len()),
    };
    let mut runs = Vec::new();
    for pair in 0..args.ab_pairs {
        let order = if pair % 2 == 0 { [a, b] } else { [b, a] };
        for segments in order {
            let run = verify_once(target, org, Some(segments)).await?;
            eprintln!(
                "haven-bench: verify --segments {segments}: {:.0} entries/s",
                run.verified.per_sec
            );
            runs.push(run);
        }
    }
    Ok(runs)
}

/// The median rate of the A/B runs with `segments`.
fn median_rate(runs: &[VerifyRun], segments: u16) -> Option<f64> {
    let mut rates: Vec<f64> = runs
        .iter()
        .filter(|r| r.segments == Some(segments))
        .map(|r| r.verified.per_sec)
        .collect();
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied()
}

/// Polls the organization's chain head until it reaches `rows`.
async fn wait_until_sealed(
    conn: &mut sqlx::PgConnection,
    org: Uuid,
    rows: i64,
    timeout: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut reported = Instant::now();
    loop {
        let head: i64 = sqlx::query_scalar(
            "SELECT coalesce((SELECT last_sequence FROM audit_chain_heads \
                              WHERE organization_id = $1), 0)",
        )
        .bind(org)
        .fetch_one(&mut *conn)
        .await?;
        if head >= rows {
            return Ok(());
        }
        if started.elapsed() > timeout {
            bail!("the sealer had sealed {head} of {rows} events after {timeout:?}");
        }
        if reported.elapsed() > PROGRESS_EVERY {
            eprintln!(
                "haven-bench: sealed {head} of {rows} events ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
            reported = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The largest resident set of the child processes waited for (`haven audit verify`), in KiB.
fn children_peak_kib() -> Option<u64> {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).ok()?;
    u64::try_from(usage.max_rss()).ok()
}

/// `verified 1000000 entries in 1.23 s (813008 entries/s): all chains intact`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Verified {
    entries: u64,
    seconds: f64,
    per_sec: f64,
}

impl Verified {
    fn parse(stdout: &str) -> Option<Self> {
        let line = stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix("verified "))?;
        let mut words = line.split_whitespace();
        let entries = words.next()?.parse().ok()?;
        // entries in S s (R entries/s)...
        let words: Vec<&str> = words.collect();
        let seconds = words.get(2)?.parse().ok()?;
        let per_sec = words.get(4)?.trim_start_matches('(').parse().ok()?;
        Some(Self {
            entries,
            seconds,
            per_sec,
        })
    }
}

/// Everything one run measured.
struct Measured {
    org: Uuid,
    inserted: Duration,
    sealed_in: Duration,
    seal_cpu: cpu::Usage,
    after_sealing: Option<crate::memory::Memory>,
    run: VerifyRun,
    verify_peak_kib: Option<u64>,
    ab: Vec<VerifyRun>,
}

fn report(target: &Target, args: &AuditVerifyArgs, measured: Measured) -> Report {
    let Measured {
        org,
        inserted,
        sealed_in,
        seal_cpu,
        after_sealing,
        run,
        verify_peak_kib,
        ab,
    } = measured;
    let VerifyRun {
        segments,
        verified,
        wall,
        cpu: verify_cpu,
        window: verify_window,
    } = run;
    let rows = args.rows;
    let seal_rate = rows as f64 / sealed_in.as_secs_f64().max(1e-9);
    let wall_rate = rows as f64 / wall.as_secs_f64().max(1e-9);
    let idle = target.idle_memory();
    let mut rows_out = vec![
        (
            "scenario",
            "audit verify: one organization's chain, events inserted into the outbox directly"
                .to_owned(),
        ),
        (
            "target",
            format!("{} ({})", target.api.base(), target.database()),
        ),
        ("organization", org.to_string()),
        (
            "insert",
            format!(
                "{rows} events in {:.2} s (one INSERT ... SELECT, {:.0} events/s)",
                inserted.as_secs_f64(),
                rows as f64 / inserted.as_secs_f64().max(1e-9)
            ),
        ),
        (
            "sealing",
            format!(
                "{:.2} s until the chain head reached {rows} and the outbox was empty: \
                 {seal_rate:.0} events/s",
                sealed_in.as_secs_f64()
            ),
        ),
        (
            "cpu while sealing",
            cpu_text(&seal_cpu, sealed_in, rows, "event"),
        ),
        (
            "verify",
            format!(
                "{} entries in {:.2} s: {:.0} entries/s (haven audit verify's own figure), \
                 segments: {}",
                verified.entries,
                verified.seconds,
                verified.per_sec,
                segments.map_or_else(
                    || "Haven's default (the cores)".to_owned(),
                    |n| n.to_string()
                )
            ),
        ),
        (
            "verify, whole command",
            format!(
                "{:.2} s wall including start-up and attaching: {wall_rate:.0} entries/s; \
                 its peak RSS {}",
                wall.as_secs_f64(),
                verify_peak_kib.map_or_else(
                    || "unknown".to_owned(),
                    |kib| format!("{:.1} MiB", crate::memory::mib(kib))
                )
            ),
        ),
        (
            "cpu while verifying",
            cpu_text(&verify_cpu, verify_window, rows, "event"),
        ),
        ("memory", memory_text(idle, after_sealing)),
        (
            "SPEC §10 target",
            format!(
                "≥ {TARGET_ROWS_PER_SEC:.0} rows/s: {}",
                verdict(verified.per_sec >= TARGET_ROWS_PER_SEC)
            ),
        ),
    ];
    if !ab.is_empty() {
        for &n in &args.ab_segments {
            let rates: Vec<String> = ab
                .iter()
                .filter(|r| r.segments == Some(n))
                .map(|r| format!("{:.0}", r.verified.per_sec))
                .collect();
            rows_out.push((
                "verify A/B",
                format!(
                    "--segments {n}: {} entries/s (median {:.0}); in run order, pairs alternate \
                     which goes first",
                    rates.join(" / "),
                    median_rate(&ab, n).unwrap_or_default()
                ),
            ));
        }
    }
    let json = json!({
        "scenario": "audit-verify",
        "target": target.to_json(),
        "organization": org,
        "rows": rows,
        "insertSecs": inserted.as_secs_f64(),
        "sealSecs": sealed_in.as_secs_f64(),
        "sealPerSec": seal_rate,
        "sealCpu": seal_cpu.to_json(),
        "verify": {
            "segments": segments,
            "entries": verified.entries,
            "secs": verified.seconds,
            "perSec": verified.per_sec,
            "wallSecs": wall.as_secs_f64(),
            "wallPerSec": wall_rate,
            "peakRssMib": verify_peak_kib.map(crate::memory::mib),
            "cpu": verify_cpu.to_json(),
        },
        "segmentsAb": ab.iter().map(|r| json!({
            "segments": r.segments,
            "perSec": r.verified.per_sec,
            "secs": r.verified.seconds,
            "cpu": r.cpu.to_json(),
        })).collect::<Vec<_>>(),
        "memory": target::memory_json(idle, after_sealing),
        "meetsTarget": verified.per_sec >= TARGET_ROWS_PER_SEC,
    });
    Report {
        rows: labelled(rows_out),
        json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verify_summary_parses() {
        let out = "organization 0190-...: ok, 1000000 entries\n\
                   verified 1000000 entries in 1.64 s (609756 entries/s): all chains intact\n";
        assert_eq!(
            Verified::parse(out),
            Some(Verified {
                entries: 1_000_000,
                seconds: 1.64,
                per_sec: 609_756.0
            })
        );
        assert_eq!(Verified::parse("organization x: ok, 3 entries\n"), None);
    }
}
