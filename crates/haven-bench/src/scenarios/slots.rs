//! The slot finder (SPEC §10, issue 15 "Measure"): `GET /api/availability` for every seeded
//! clinician over `--days` days, among `--appointments` appointments.
//!
//! The practice (clinicians available every day 08:00–17:00 UTC, patients) is seeded through
//! the API as for `book`; the appointments are inserted straight into the started Haven's
//! cluster as the owner, in one statement (the API would take an hour): clinician `i %
//! clinicians`, patient `i % patients`, one hour each, two of every three one-hour slots of each
//! clinician taken, starting a fifth of the span before the searched window (those in the past
//! FULFILLED, every tenth slot CANCELLED, the rest BOOKED). The table is then analyzed.
//!
//! The searches run in a closed loop (`--concurrency` clients) or, with `--rate`, open-loop:
//! sent on a fixed schedule, each latency counted from its scheduled send time, at most
//! `--concurrency` in flight. What one costs Haven (`api/slots/find.rs`): the token verified,
//! one tenant transaction with the one statement of `store/slots.rs`, the JSON answer; not
//! audited (no PHI).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hyper::StatusCode;
use serde_json::json;
use sqlx::Connection as _;
use uuid::Uuid;

use super::booking::{
    FIRST_HOUR, MINUTES, Practice, SERVICE_CODE, SLOTS_PER_DAY, rfc3339, seeded_text,
};
use super::{Report, cpu_text, errors_text, labelled, latency_text, memory_text, verdict};
use crate::cli::SlotsArgs;
use crate::cpu;
use crate::db;
use crate::http::Api;
use crate::load;
use crate::target::{self, Target};

/// SPEC §10.
const TARGET_P99: Duration = Duration::from_millis(50);

/// `slots`.
pub async fn run(target: &Target, args: &SlotsArgs) -> anyhow::Result<Report> {
    let server = target
        .started()
        .context("the slots scenario needs --start")?;
    let practice = Practice::seed(target, &args.practice, false).await?;
    let seeded = Instant::now();
    let span_days = seed_appointments(server, &practice, args.appointments).await?;
    let seed_secs = seeded.elapsed().as_secs_f64();
    let from = practice.first_day * 86_400;
    let to = from + i64::from(args.days) * 86_400;
    let path: Arc<str> = Arc::from(format!(
        "/api/availability?clinicianIds={}&durationMinutes={}&from={}&to={}&limit={}",
        practice.clinicians.join(","),
        args.duration_minutes,
        rfc3339(from),
        rfc3339(to),
        args.limit
    ));
    let in_window = active_in_window(server, &practice, from, to).await?;
    let api = Api::new(target.api.base())?;
    let token: Arc<str> = Arc::from(practice.scheduler_token.as_str());
    // One search first: what it answers, and how long it takes alone. A failure (Haven's
    // request or statement timeout) is reported, not fatal: it is a figure too.
    let sent = Instant::now();
    let first = api.get_with(&path, &token).await?;
    let first_secs = sent.elapsed().as_secs_f64();
    let first_status = first.status;
    let (found, truncated) = if first_status == StatusCode::OK {
        let answer = first.json(StatusCode::OK, "searching free slots")?;
        (
            answer["slots"].as_array().map_or(0, Vec::len),
            answer["truncated"].as_bool().unwrap_or(false),
        )
    } else {
        (0, false)
    };
    let concurrency = usize::from(args.load.concurrency);
    let seeded_memory = target.memory();
    let (before, started) = (target.cpu_snapshot(), Instant::now());
    let mut measured = load::drive(&args.load, StatusCode::OK, move |_| {
        let (api, token, path) = (api.clone(), Arc::clone(&token), Arc::clone(&path));
        async move { Ok(api.get_with(&path, &token).await?.status) }
    })
    .await?;
    let cpu = cpu::Usage::between(before, target.cpu_snapshot(), started.elapsed());
    let (idle, after) = (target.idle_memory(), target.memory());
    let latency = measured.latencies.summary();
    let mode = match args.load.rate {
        Some(_) => load::mode_text(&args.load, "searches"),
        None => format!("closed loop: {concurrency} clients, one SCHEDULER token"),
    };
    let rows = vec![
        (
            "scenario",
            format!(
                "slots: SCHEDULER, GET /api/availability for {} clinicians × {} days, {} min \
                 slots on the 15-min grid, limit {}",
                practice.clinicians.len(),
                args.days,
                args.duration_minutes,
                args.limit
            ),
        ),
        (
            "seeded",
            format!(
                "{} appointments ({MINUTES} min, {SERVICE_CODE}) over {} clinicians and {} \
                 patients across {span_days} days, inserted as the owner in {seed_secs:.1} s; \
                 {in_window} active in the searched window",
                args.appointments,
                practice.clinicians.len(),
                practice.patients.len()
            ),
        ),
        (
            "first search, alone",
            if first_status == StatusCode::OK {
                format!("{found} slots, truncated: {truncated}; {first_secs:.3} s")
            } else {
                format!("answered {first_status} after {first_secs:.3} s")
            },
        ),
        (
            "target",
            format!("{} ({})", target.api.base(), target.database()),
        ),
        ("mode", mode),
        (
            "duration",
            format!(
                "{:?} requested, {:.2} s elapsed",
                args.load.duration,
                measured.elapsed.as_secs_f64()
            ),
        ),
        (
            "requests",
            format!(
                "{} ({} × 200; errors: {})",
                measured.requests,
                measured.ok,
                errors_text(&measured.errors)
            ),
        ),
        (
            "throughput",
            format!("{:.1} searches/s", measured.ok_per_sec()),
        ),
        ("latency", latency_text(latency)),
        ("memory", memory_text(idle, after)),
        ("memory before the load", seeded_text(seeded_memory)),
        (
            "cpu during load",
            cpu_text(&cpu, measured.elapsed, measured.ok, "search"),
        ),
        (
            "SPEC §10 target",
            format!(
                "p99 < 50 ms: {}{}",
                verdict(latency.p99.is_some_and(|p| p < TARGET_P99)),
                if args.load.rate.is_some() {
                    ""
                } else {
                    " (closed loop: the SPEC measures latency open-loop, --rate)"
                }
            ),
        ),
    ];
    let json = json!({
        "scenario": "slots",
        "target": target.to_json(),
        "clinicians": practice.clinicians.len(),
        "days": args.days,
        "appointments": args.appointments,
        "activeInWindow": in_window,
        "seedSecs": seed_secs,
        "slotsFound": found,
        "truncated": truncated,
        "firstSearch": { "status": first_status.as_u16(), "secs": first_secs },
        "rate": args.load.rate,
        "concurrency": args.load.concurrency,
        "durationSecs": args.load.duration.as_secs_f64(),
        "elapsedSecs": measured.elapsed.as_secs_f64(),
        "requests": measured.requests,
        "ok": measured.ok,
        "errors": measured.errors,
        "okPerSec": measured.ok_per_sec(),
        "latency": latency.to_json(),
        "memory": target::memory_json(idle, after),
        "memoryBeforeLoadMib": seeded_memory.map(|m| crate::memory::mib(m.rss_kib)),
        "cpu": cpu.to_json(),
    });
    Ok(Report {
        rows: labelled(rows),
        json,
    })
}

/// Inserts `count` appointments as the owner (see the module's header), then analyzes the
/// table; the number of days they span.
async fn seed_appointments(
    server: &crate::server::HavenProcess,
    practice: &Practice,
    count: u64,
) -> anyhow::Result<i64> {
    let clinicians = practice.clinicians.len() as u64;
    // Slot k of a clinician is its (k + k / 2)th hour: two of every three taken.
    let per_clinician = count.div_ceil(clinicians);
    let span_days = i64::try_from((per_clinician * 3 / 2).div_ceil(SLOTS_PER_DAY))?.max(1);
    let base_day = practice.first_day - span_days / 5;
    let parse = |ids: &[String]| -> anyhow::Result<Vec<Uuid>> {
        ids.iter()
            .map(|id| id.parse().context("an id is not a UUID"))
            .collect()
    };
    let org: Uuid = practice.org.id.parse()?;
    let admin: Uuid = practice.org.admin_id.parse()?;
    let mut conn = db::owner(server).await?;
    sqlx::query(
        "INSERT INTO calendar_entries (organization_id, id, kind, clinician_id, patient_id, \
             service_code, start_at, end_at, busy_until, status, created_by) \
         SELECT $1, haven_units.uuid_v7(), 'APPOINTMENT', \
             ($2::uuid[])[1 + i % cardinality($2::uuid[])], \
             ($3::uuid[])[1 + i % cardinality($3::uuid[])], $4, t.s, t.s + make_interval(mins => $5::int), \
             t.s + make_interval(mins => $5::int), \
             CASE WHEN t.s < now() THEN 'FULFILLED' WHEN k.n % 10 = 9 THEN 'CANCELLED' ELSE 'BOOKED' END, \
             $6 \
         FROM generate_series(0::int8, $7::int8 - 1) AS i \
         CROSS JOIN LATERAL (SELECT i / cardinality($2::uuid[]) AS n) k \
         CROSS JOIN LATERAL (SELECT k.n + k.n / 2 AS slot) h \
         CROSS JOIN LATERAL (SELECT to_timestamp($8::int8 + (h.slot / $9) * 86400 \
                                                 + ($10 + h.slot % $9) * 3600) AS s) t",
    )
    .bind(org)
    .bind(parse(&practice.clinicians)?)
    .bind(parse(&practice.patients)?)
    .bind(SERVICE_CODE)
    .bind(MINUTES)
    .bind(admin)
    .bind(i64::try_from(count)?)
    .bind(base_day * 86_400)
    .bind(i64::try_from(SLOTS_PER_DAY)?)
    .bind(i64::try_from(FIRST_HOUR)?)
    .execute(&mut conn)
    .await
    .context("inserting the appointments")?;
    conn.close().await?;
    db::analyze(server, "calendar_entries").await?;
    Ok(span_days)
}

/// Active appointments of the practice that start in `[from, to)` (epoch seconds).
async fn active_in_window(
    server: &crate::server::HavenProcess,
    practice: &Practice,
    from: i64,
    to: i64,
) -> anyhow::Result<i64> {
    let org: Uuid = practice.org.id.parse()?;
    let mut conn = db::owner(server).await?;
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM calendar_entries WHERE organization_id = $1 \
           AND status IN ('HELD', 'BOOKED', 'CHECKED_IN') \
           AND start_at >= to_timestamp($2) AND start_at < to_timestamp($3)",
    )
    .bind(org)
    .bind(from as f64)
    .bind(to as f64)
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    Ok(count)
}
