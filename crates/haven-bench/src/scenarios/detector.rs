//! `breach-detector` (SPEC §10: "breach detector while the API writes 2,000 audit events/s: lag
//! < 60 s; request throughput within 5% of the detector switched off"): the `patient-read` load
//! (one PATIENT_READ audit event per read; with `--list-limit N`, lists of N patients, N events
//! per request) on a started Haven, while a sampler reads the
//! detector's lag (the age of the oldest sealed event it has not read, the figure behind
//! `haven_breach_detector_lag_seconds`) from the cluster every second; after the load it waits
//! for the detector to catch up.
//!
//! Whether the detector runs is the started Haven's `HAVEN_BREACH_DETECTOR_SECS`, given with
//! `--haven-env HAVEN_BREACH_DETECTOR_SECS=off|<secs>` (default 30); `bench/breach-detector-ab.sh`
//! alternates runs with it off and on, which is the comparison the SPEC asks for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Connection as _;

use super::{Report, patients};
use crate::cli::{BreachDetectorArgs, PatientReadArgs};
use crate::db;
use crate::target::Target;

/// How often the lag is sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// SPEC §10.
const LAG_TARGET_SECS: f64 = 60.0;

/// The lag samples of one run.
#[derive(Debug, Default, Clone, Copy)]
struct Lag {
    max: f64,
    samples: u64,
}

/// `breach-detector`: the read load with the detector's lag sampled throughout.
pub async fn run(target: &Target, args: &BreachDetectorArgs) -> anyhow::Result<Report> {
    let server = target.started()?;
    let detector = target
        .setting("HAVEN_BREACH_DETECTOR_SECS")
        .unwrap_or("30")
        .to_owned();
    let on = detector != "off";
    let mut conn = db::owner(server).await?;
    let events_before = audit_events(&mut conn).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop);
        let mut conn = db::owner(server).await?;
        tokio::spawn(async move {
            let mut lag = Lag::default();
            let mut ticker = tokio::time::interval(SAMPLE_EVERY);
            while !stop.load(Ordering::Relaxed) {
                ticker.tick().await;
                let now = detector_lag(&mut conn).await?;
                lag.max = lag.max.max(now);
                lag.samples += 1;
            }
            conn.close().await?;
            anyhow::Ok(lag)
        })
    };
    let started = Instant::now();
    let mut report = patients::read_pages(
        target,
        &PatientReadArgs {
            load: args.load.clone(),
            patients: args.patients,
            pgbench: args.no_pgbench(),
        },
        args.list_limit,
    )
    .await?;
    stop.store(true, Ordering::Relaxed);
    let lag = sampler.await??;
    let elapsed = started.elapsed();
    let events = audit_events(&mut conn).await? - events_before;

    // With the detector on: how long until it has read everything the run sealed.
    let caught_up = if on {
        let waited = Instant::now();
        let limit = Duration::from_secs(args.catch_up_secs);
        loop {
            if detector_lag(&mut conn).await? == 0.0 {
                break Some(waited.elapsed());
            }
            if waited.elapsed() > limit {
                break None;
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    } else {
        None
    };
    conn.close().await?;

    let events_per_sec = events as f64 / elapsed.as_secs_f64();
    let verdict = if on {
        if lag.max < LAG_TARGET_SECS {
            format!("max lag {:.1} s < {LAG_TARGET_SECS:.0} s: met", lag.max)
        } else {
            format!("max lag {:.1} s ≥ {LAG_TARGET_SECS:.0} s: NOT met", lag.max)
        }
    } else {
        "detector off: the baseline for the throughput comparison".to_owned()
    };
    report.rows.insert(
        0,
        (
            "breach detector".to_owned(),
            if on {
                format!("on, every {detector} s (HAVEN_BREACH_DETECTOR_SECS)")
            } else {
                "off (HAVEN_BREACH_DETECTOR_SECS=off)".to_owned()
            },
        ),
    );
    // Each successful request audited one patient, or a full page of them.
    let per_request = args.list_limit.unwrap_or(1);
    let load_events_per_sec =
        report.json["okPerSec"].as_f64().unwrap_or_default() * f64::from(per_request);
    report.rows.push((
        "audit events written by the load".to_owned(),
        format!(
            "{load_events_per_sec:.0}/s ({})",
            match args.list_limit {
                Some(limit) => format!("lists of {limit} patients, {limit} PATIENT_READ each"),
                None => "one PATIENT_READ per read".to_owned(),
            }
        ),
    ));
    report.rows.push((
        "audit events sealed".to_owned(),
        format!(
            "{events} over {:.1} s (seeding and load): {events_per_sec:.0}/s on average",
            elapsed.as_secs_f64()
        ),
    ));
    report.rows.push((
        "detector lag".to_owned(),
        format!(
            "max {:.1} s over {} samples, 1 s apart{}",
            lag.max,
            lag.samples,
            match caught_up {
                Some(after) => format!(
                    "; nothing left unread {:.1} s after the load",
                    after.as_secs_f64()
                ),
                None if on => format!("; still behind {} s after the load", args.catch_up_secs),
                None => String::new(),
            }
        ),
    ));
    report
        .rows
        .push(("SPEC §10 detector lag".to_owned(), verdict));
    if let Some(map) = report.json.as_object_mut() {
        map.insert(
            "breachDetector".to_owned(),
            json!({
                "on": on,
                "intervalSecs": if on { Some(detector.as_str()) } else { None },
                "listLimit": args.list_limit,
                "loadAuditEventsPerSec": load_events_per_sec,
                "auditEventsSealed": events,
                "auditEventsPerSec": events_per_sec,
                "maxLagSecs": lag.max,
                "lagSamples": lag.samples,
                "caughtUpSecsAfterLoad": caught_up.map(|d| d.as_secs_f64()),
            }),
        );
    }
    Ok(report)
}

/// Sealed audit events in every chain.
async fn audit_events(conn: &mut sqlx::PgConnection) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT coalesce(sum(last_sequence), 0)::bigint FROM audit_chain_heads")
            .fetch_one(conn)
            .await?,
    )
}

/// Seconds since the oldest sealed event the detector has not read was sealed (0: none).
async fn detector_lag(conn: &mut sqlx::PgConnection) -> anyhow::Result<f64> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(extract(epoch FROM now() - haven_auth.breach_detector_oldest_unread()), 0)::float8",
    )
    .fetch_one(conn)
    .await?)
}
