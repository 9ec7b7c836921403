//! `failover` (issue 24): a mixed load — patient creates, unit reservations, audited patient
//! reads — against a Haven at `--url` whose database fails over while it runs. `--kill` (a shell
//! command, e.g. SIGKILL to the primary's postgres and its keeper) runs once, `--kill-after`
//! into the load; the load goes on for its whole `--duration`.
//!
//! Afterwards, once `/ready` answers 200 again: every write Haven acknowledged (201) must be in
//! the database — each created patient and each reserved session, counted by id on the primary
//! through `--owner-url` (several hosts allowed: the primary among them is found) — the unit
//! ledger must hold for the organization (`haven_units.ledger_check()`), and the audit outbox
//! must drain. The run fails when any of these breaks. Reported: the failover time (from the
//! kill to the first acknowledged write after the last failed request), the requests answered
//! with an error meanwhile by status (errors, never silent losses), and the throughput.
//!
//! A request that failed may still have committed (the answer was lost with the connection):
//! such writes are allowed to exist, which is why the ledger is checked for consistency, not
//! for equality with the acknowledged count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use haven::db::hosts::Endpoints;
use hyper::StatusCode;
use hyper::body::Bytes;
use serde_json::{Value, json};
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use super::patients::{seed_from_clock, splitmix64};
use super::units::{authorizations, rfc3339_now};
use super::{Report, errors_text, labelled, latency_text};
use crate::cli::FailoverArgs;
use crate::db;
use crate::http::Api;
use crate::load::{self, Outcome};
use crate::seed;
use crate::target::Target;

const PATIENTS: &str = "/api/patients";
const SESSIONS: &str = "/api/sessions";
/// Patients and authorizations seeded before the load.
const SEEDED: u32 = 20;
const SEED_PARALLEL: usize = 4;

/// What the clients saw, shared while they run.
#[derive(Default)]
struct Ledger {
    /// Acknowledged patient creates and reservations: their ids.
    patients: Vec<Uuid>,
    sessions: Vec<Uuid>,
    /// Every request's send time (ms from the start) and whether it succeeded.
    timeline: Vec<(u64, bool)>,
}

/// Runs the scenario (see the module documentation).
pub async fn run(target: &Target, args: &FailoverArgs) -> anyhow::Result<Report> {
    let owner_endpoints = Endpoints::parse(&args.owner_url)
        .map_err(|error| anyhow::anyhow!("--owner-url: {error}"))?;
    let org = seed::organization(target).await?;
    let org_id: Uuid = org.id.parse()?;
    let patients = seed::patients(&target.api, &org, 0, u64::from(SEEDED), SEED_PARALLEL).await?;
    let grants = authorizations(&target.api, &org, &patients, SEEDED, 100_000).await?;
    let (patients, grants) = (Arc::new(patients), Arc::new(grants));
    let api = Api::new(target.api.base())?;
    let token: Arc<str> = Arc::from(org.admin_token.as_str());
    let shared = Arc::new(Mutex::new(Ledger::default()));
    let draws = Arc::new(AtomicU64::new(seed_from_clock()));
    let next_mrn = Arc::new(AtomicU64::new(1_000_000));
    let started = Instant::now();

    let kill = tokio::spawn({
        let (command, after) = (args.kill.clone(), args.kill_after);
        async move {
            tokio::time::sleep(after).await;
            let at = started.elapsed();
            let status = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(&command)
                .status()
                .await;
            (at, status)
        }
    });
    let mut load = {
        let shared = Arc::clone(&shared);
        load::run_ops(
            usize::from(args.load.concurrency),
            args.load.duration,
            move |_| {
                let (api, token, shared) = (api.clone(), Arc::clone(&token), Arc::clone(&shared));
                let (patients, grants) = (Arc::clone(&patients), Arc::clone(&grants));
                let draw = splitmix64(draws.fetch_add(1, Ordering::Relaxed));
                let mrn = seed::mrn(next_mrn.fetch_add(1, Ordering::Relaxed));
                async move {
                    let sent = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    let outcome = one_request(&api, &token, draw, &mrn, &patients, &grants).await;
                    let mut ledger = shared.lock().expect("the ledger lock");
                    ledger.timeline.push((sent, outcome.is_ok()));
                    match outcome {
                        Ok(Some(Written::Patient(id))) => ledger.patients.push(id),
                        Ok(Some(Written::Session(id))) => ledger.sessions.push(id),
                        Ok(None) => {}
                        Err(kind) => return Err(kind),
                    }
                    Outcome::Ok(())
                }
            },
        )
        .await?
    };
    let (killed_at, kill_status) = kill.await?;
    let kill_status = kill_status.context("running --kill")?;
    if !kill_status.success() {
        bail!("--kill exited with {kill_status}");
    }
    let ready_after = wait_ready(&target.api, args.recover_timeout).await?;
    let ledger = std::mem::take(&mut *shared.lock().expect("the ledger lock"));

    let options = owner_endpoints
        .find()
        .await
        .context("no host of --owner-url answers as the primary")?;
    let mut owner = PgConnection::connect_with(&options).await?;
    let patients_found = count_ids(&mut owner, "patients", org_id, &ledger.patients).await?;
    let sessions_found =
        count_ids(&mut owner, "therapy_sessions", org_id, &ledger.sessions).await?;
    let (checked, inconsistent) = ledger_check(&mut owner, org_id).await?;
    let backlog = db::outbox_backlog(&mut owner).await?;
    let drained = db::wait_for_empty_outbox(
        &mut owner,
        Duration::from_millis(200),
        Duration::from_secs(120),
    )
    .await?;
    owner.close().await?;

    let window = Window::of(&ledger.timeline);
    let lost_patients = ledger.patients.len() as i64 - patients_found;
    let lost_sessions = ledger.sessions.len() as i64 - sessions_found;
    let rows = vec![
        (
            "scenario",
            format!(
                "failover: ADMIN, patient create / reserve 1 unit / patient read in turn at \
                 random, {} clients for {:?}; `--kill` after {:?}",
                args.load.concurrency, args.load.duration, args.kill_after
            ),
        ),
        (
            "requests",
            format!(
                "{} ({} ok; errors: {})",
                load.requests,
                load.ok,
                errors_text(&load.errors)
            ),
        ),
        ("throughput", format!("{:.1} ok/s", load.ok_per_sec())),
        ("latency (ok)", latency_text(load.latencies.summary())),
        ("failover", window.text(killed_at)),
        (
            "ready again",
            format!(
                "/ready 200 {:.1} s after the load ended",
                ready_after.as_secs_f64()
            ),
        ),
        (
            "acknowledged writes",
            format!(
                "{} patients created, {} present; {} sessions reserved, {} present",
                ledger.patients.len(),
                patients_found,
                ledger.sessions.len(),
                sessions_found
            ),
        ),
        (
            "unit ledger",
            format!("{checked} authorizations checked, {inconsistent} inconsistent"),
        ),
        (
            "audit outbox",
            format!(
                "{backlog} events unsealed after recovery; drained {:.1} s later",
                drained.as_secs_f64()
            ),
        ),
    ];
    let json = json!({
        "scenario": "failover",
        "target": target.to_json(),
        "concurrency": args.load.concurrency,
        "requests": load.requests,
        "ok": load.ok,
        "errors": load.errors,
        "okPerSec": load.ok_per_sec(),
        "latency": load.latencies.summary().to_json(),
        "failover": window.to_json(killed_at),
        "readyAfterLoadSecs": ready_after.as_secs_f64(),
        "acknowledged": {
            "patients": ledger.patients.len(), "patientsPresent": patients_found,
            "sessions": ledger.sessions.len(), "sessionsPresent": sessions_found,
        },
        "lostWrites": lost_patients + lost_sessions,
        "ledger": { "authorizations": checked, "inconsistent": inconsistent },
        "outbox": { "backlog": backlog, "drainedSecs": drained.as_secs_f64() },
    });
    if lost_patients != 0 || lost_sessions != 0 {
        bail!(
            "ACKNOWLEDGED WRITES LOST: {lost_patients} patients, {lost_sessions} sessions\n{json}"
        );
    }
    if inconsistent != 0 {
        bail!("LEDGER INVARIANT BROKEN after the failover\n{json}");
    }
    // An outage is a 503 the client may retry; a 500 is a bug.
    if let Some(count) = load.errors.get("500") {
        bail!("{count} requests answered 500 during the failover (503 expected)\n{json}");
    }
    if window.errors == 0 {
        bail!("no request failed: the kill did not interrupt the database (check --kill)\n{json}");
    }
    Ok(Report {
        rows: labelled(rows),
        json,
    })
}

/// A write Haven acknowledged.
enum Written {
    Patient(Uuid),
    Session(Uuid),
}

/// Request `draw % 3`: create a patient, reserve one unit, or read a seeded patient.
async fn one_request(
    api: &Api,
    token: &str,
    draw: u64,
    mrn: &str,
    patients: &[String],
    grants: &[String],
) -> Result<Option<Written>, String> {
    let pick = usize::try_from((draw >> 8) % patients.len() as u64).unwrap_or_default();
    let answer = match draw % 3 {
        0 => {
            let body = Bytes::from(seed::patient_body(mrn).to_string());
            api.post_raw(PATIENTS, body, Some(token)).await
        }
        1 => {
            let body = json!({
                "authorizationId": grants[pick],
                "startTime": rfc3339_now(),
                "expectedUnits": 1,
            });
            api.post_raw(SESSIONS, Bytes::from(body.to_string()), Some(token))
                .await
        }
        _ => {
            api.get_with(&format!("{PATIENTS}/{}", patients[pick]), token)
                .await
        }
    };
    let answer = answer.map_err(|_| "transport".to_owned())?;
    let expected = if draw % 3 == 2 {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    if answer.status != expected {
        return Err(answer.status.as_u16().to_string());
    }
    let id = |body: &Value, key: &str| {
        body[key]["id"]
            .as_str()
            .and_then(|id| id.parse::<Uuid>().ok())
            .ok_or_else(|| format!("{key} without an id"))
    };
    match draw % 3 {
        0 | 1 => {
            let body: Value =
                serde_json::from_slice(&answer.body).map_err(|_| "not JSON".to_owned())?;
            Ok(Some(if draw.is_multiple_of(3) {
                Written::Patient(id(&body, "patient")?)
            } else {
                Written::Session(id(&body, "session")?)
            }))
        }
        _ => Ok(None),
    }
}

/// When requests failed around the kill.
#[derive(Debug, Clone, Copy)]
struct Window {
    errors: u64,
    first_error_ms: Option<u64>,
    last_error_ms: Option<u64>,
    /// The first success sent after the last failure.
    recovered_ms: Option<u64>,
}

impl Window {
    fn of(timeline: &[(u64, bool)]) -> Self {
        let failures = timeline.iter().filter(|(_, ok)| !ok).map(|(at, _)| *at);
        let errors = failures.clone().count() as u64;
        let (first_error_ms, last_error_ms) = (failures.clone().min(), failures.max());
        let recovered_ms = last_error_ms.and_then(|last| {
            timeline
                .iter()
                .filter(|(at, ok)| *ok && *at > last)
                .map(|(at, _)| *at)
                .min()
        });
        Self {
            errors,
            first_error_ms,
            last_error_ms,
            recovered_ms,
        }
    }

    fn failover_secs(self, killed_at: Duration) -> Option<f64> {
        self.recovered_ms
            .map(|ms| (ms as f64 / 1000.0 - killed_at.as_secs_f64()).max(0.0))
    }

    fn text(self, killed_at: Duration) -> String {
        let secs = |ms: Option<u64>| {
            ms.map_or("-".to_owned(), |ms| format!("{:.1} s", ms as f64 / 1000.0))
        };
        format!(
            "killed at {:.1} s; {} requests failed between {} and {}; first success after them \
             at {} → failover time {}",
            killed_at.as_secs_f64(),
            self.errors,
            secs(self.first_error_ms),
            secs(self.last_error_ms),
            secs(self.recovered_ms),
            self.failover_secs(killed_at).map_or(
                "- (never recovered during the load)".to_owned(),
                |s| format!("{s:.1} s")
            )
        )
    }

    fn to_json(self, killed_at: Duration) -> Value {
        json!({
            "killedAtSecs": killed_at.as_secs_f64(),
            "failedRequests": self.errors,
            "firstErrorMs": self.first_error_ms,
            "lastErrorMs": self.last_error_ms,
            "recoveredMs": self.recovered_ms,
            "failoverSecs": self.failover_secs(killed_at),
        })
    }
}

/// Polls `/ready` until it answers 200; how long that took. Every answer must come back within
/// the poll's own timeout (503 while the database is away, never a hang).
pub(super) async fn wait_ready(api: &Api, timeout: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let answer = tokio::time::timeout(Duration::from_secs(10), api.get("/ready"))
            .await
            .context("/ready did not answer within 10 s (it must answer 503, not hang)")?;
        if answer.is_ok_and(|answer| answer.status == StatusCode::OK) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            bail!("/ready still not 200 after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// How many of `ids` exist in `table` for `org` (as the owner, which sees every row).
pub(super) async fn count_ids(
    conn: &mut PgConnection,
    table: &str,
    org: Uuid,
    ids: &[Uuid],
) -> anyhow::Result<i64> {
    let sql = format!("SELECT count(*) FROM {table} WHERE organization_id = $1 AND id = ANY($2)");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(ids)
        .fetch_one(&mut *conn)
        .await
        .with_context(|| format!("counting acknowledged rows of {table}"))
}

/// `haven_units.ledger_check()` for `org`: authorizations checked, inconsistent.
pub(super) async fn ledger_check(conn: &mut PgConnection, org: Uuid) -> anyhow::Result<(i64, i64)> {
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT set_config('app.current_organization_id', $1, true)")
        .bind(org.to_string())
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE NOT consistent) FROM haven_units.ledger_check()",
    )
    .fetch_one(&mut *tx)
    .await
    .context("running haven_units.ledger_check()")?;
    tx.rollback().await?;
    Ok(row)
}
