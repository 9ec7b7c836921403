//! `chaos` (issue 24): clients book appointments, reserve and complete sessions and read
//! patients across several Haven instances of one database (`--url` and `--also`), while
//! something outside (`ha/chaos.sh`) SIGKILLs and restarts instances at random. There is no
//! proxy: each client keeps to one instance and moves to the next when its instance stops
//! answering (a transport error or a 503), as a client with several addresses would.
//!
//! Afterwards, once every instance answers `/ready` 200: every acknowledged write is in the
//! database (appointments booked, sessions reserved, sessions completed as COMPLETED), and the
//! unit ledger holds. A 500 fails the run; a 409 on a completion is allowed (the stale job may
//! have released that reservation first, which is its job).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use haven::db::hosts::Endpoints;
use hyper::StatusCode;
use hyper::body::Bytes;
use serde_json::{Value, json};
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use super::booking::Practice;
use super::failover::{count_ids, ledger_check, wait_ready};
use super::patients::{seed_from_clock, splitmix64};
use super::{Report, errors_text, labelled, latency_text};
use crate::cli::{ChaosArgs, PracticeArgs};
use crate::http::Api;
use crate::load::{self, Outcome};
use crate::target::Target;

/// The practice the clients work in: few clinicians and patients, so that bookings, sessions
/// and the stale job meet on the same rows.
const CLINICIANS: u32 = 4;
const PATIENTS: u32 = 8;

/// What the clients saw, shared while they run.
#[derive(Default)]
struct Seen {
    appointments: Vec<Uuid>,
    reserved: Vec<Uuid>,
    completed: Vec<Uuid>,
    /// Reserved and not yet completed by a client: what completions take.
    open: VecDeque<Uuid>,
    /// Requests each instance answered (any status).
    answered: Vec<u64>,
    /// Times a client moved to another instance.
    moves: u64,
    /// 409s on completions (the stale job released the session first).
    completion_conflicts: u64,
}

/// A request's kind, by draw.
#[derive(Clone, Copy)]
enum Op {
    Book,
    Reserve,
    Complete,
    Read,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::Book => "book",
            Self::Reserve => "reserve",
            Self::Complete => "complete",
            Self::Read => "read",
        }
    }
}

/// Runs the scenario (see the module documentation).
pub async fn run(target: &Target, args: &ChaosArgs) -> anyhow::Result<Report> {
    let owner_endpoints = Endpoints::parse(&args.owner_url)
        .map_err(|error| anyhow::anyhow!("--owner-url: {error}"))?;
    let apis = apis_of(target, args)?;
    let practice_args = PracticeArgs {
        clinicians: CLINICIANS,
        patients: PATIENTS,
    };
    let practice = Arc::new(Practice::seed(target, &practice_args, true).await?);
    let org_id: Uuid = practice.org.id.parse()?;
    let apis = Arc::new(apis);
    let instances = Arc::clone(&apis);
    let seen = Arc::new(Mutex::new(Seen {
        answered: vec![0; apis.len()],
        ..Seen::default()
    }));
    // Client `c` talks to instance `home[c] % instances`.
    let home: Arc<Vec<AtomicUsize>> = Arc::new(
        (0..usize::from(args.load.concurrency))
            .map(AtomicUsize::new)
            .collect(),
    );
    let draws = Arc::new(AtomicU64::new(seed_from_clock()));
    let next_slot = Arc::new(AtomicU64::new(0));

    let mut load = {
        let seen = Arc::clone(&seen);
        load::run_ops(
            usize::from(args.load.concurrency),
            args.load.duration,
            move |client| {
                let (apis, seen, home) = (Arc::clone(&apis), Arc::clone(&seen), Arc::clone(&home));
                let practice = Arc::clone(&practice);
                let draw = splitmix64(draws.fetch_add(1, Ordering::Relaxed));
                let op = match draw % 4 {
                    0 => Op::Book,
                    1 => Op::Reserve,
                    2 => Op::Complete,
                    _ => Op::Read,
                };
                // Bookings take consecutive free slots (within the authorizations' year).
                let slot = match op {
                    Op::Book => next_slot.fetch_add(1, Ordering::Relaxed),
                    _ => 0,
                };
                async move {
                    let at = home[client].load(Ordering::Relaxed) % apis.len();
                    let answer = one_request(&apis[at], &practice, &seen, op, draw, slot).await;
                    let mut seen = seen.lock().expect("the seen lock");
                    match answer {
                        Ok(status) => {
                            seen.answered[at] += 1;
                            if status == StatusCode::SERVICE_UNAVAILABLE {
                                home[client].fetch_add(1, Ordering::Relaxed);
                                seen.moves += 1;
                                return Outcome::Err("503".to_owned());
                            }
                            Outcome::Ok(())
                        }
                        Err(kind) => {
                            if kind == "transport" {
                                home[client].fetch_add(1, Ordering::Relaxed);
                                seen.moves += 1;
                            }
                            Outcome::Err(kind)
                        }
                    }
                }
            },
        )
        .await?
    };

    let mut ready_after = Vec::new();
    for api in instances.iter() {
        ready_after.push(wait_ready(api, args.recover_timeout).await?.as_secs_f64());
    }
    let seen = std::mem::take(&mut *seen.lock().expect("the seen lock"));
    let options = owner_endpoints
        .find()
        .await
        .context("no host of --owner-url answers as the primary")?;
    let mut owner = PgConnection::connect_with(&options).await?;
    let booked = count_ids(&mut owner, "calendar_entries", org_id, &seen.appointments).await?;
    let reserved = count_ids(&mut owner, "therapy_sessions", org_id, &seen.reserved).await?;
    let completed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM therapy_sessions \
         WHERE organization_id = $1 AND id = ANY($2) AND status = 'COMPLETED'",
    )
    .bind(org_id)
    .bind(&seen.completed)
    .fetch_one(&mut owner)
    .await
    .context("counting completed sessions")?;
    let (checked, inconsistent) = ledger_check(&mut owner, org_id).await?;
    owner.close().await?;

    let server_errors: u64 = load
        .errors
        .iter()
        .filter(|(kind, _)| kind.ends_with(" 500"))
        .map(|(_, count)| count)
        .sum();
    let lost = (seen.appointments.len() as i64 - booked)
        + (seen.reserved.len() as i64 - reserved)
        + (seen.completed.len() as i64 - completed);
    let rows = vec![
        (
            "scenario",
            format!(
                "chaos: book / reserve / complete / read at random over {} instances, {} \
                 clients for {:?} (instances killed and restarted outside)",
                args.also.len() + 1,
                args.load.concurrency,
                args.load.duration
            ),
        ),
        (
            "requests",
            format!(
                "{} ({} ok; errors: {}); clients moved instance {} times",
                load.requests,
                load.ok,
                errors_text(&load.errors),
                seen.moves
            ),
        ),
        ("answered per instance", format!("{:?}", seen.answered)),
        ("throughput", format!("{:.1} ok/s", load.ok_per_sec())),
        ("latency (ok)", latency_text(load.latencies.summary())),
        (
            "acknowledged writes",
            format!(
                "{} appointments booked, {booked} present; {} sessions reserved, {reserved} \
                 present; {} completed, {completed} COMPLETED ({} completions refused with 409 \
                 after the stale job)",
                seen.appointments.len(),
                seen.reserved.len(),
                seen.completed.len(),
                seen.completion_conflicts
            ),
        ),
        (
            "unit ledger",
            format!("{checked} authorizations checked, {inconsistent} inconsistent"),
        ),
        ("ready again", format!("{ready_after:.1?} s after the load")),
    ];
    let json = json!({
        "scenario": "chaos",
        "instances": args.also.len() + 1,
        "concurrency": args.load.concurrency,
        "requests": load.requests,
        "ok": load.ok,
        "errors": load.errors,
        "moves": seen.moves,
        "answeredPerInstance": seen.answered,
        "okPerSec": load.ok_per_sec(),
        "latency": load.latencies.summary().to_json(),
        "acknowledged": {
            "appointments": seen.appointments.len(), "appointmentsPresent": booked,
            "sessions": seen.reserved.len(), "sessionsPresent": reserved,
            "completed": seen.completed.len(), "completedPresent": completed,
            "completionConflicts": seen.completion_conflicts,
        },
        "lostWrites": lost,
        "ledger": { "authorizations": checked, "inconsistent": inconsistent },
        "serverErrors": server_errors,
    });
    if lost != 0 {
        bail!("ACKNOWLEDGED WRITES LOST: {lost}\n{json}");
    }
    if inconsistent != 0 {
        bail!("LEDGER INVARIANT BROKEN under chaos\n{json}");
    }
    if server_errors != 0 {
        bail!("{server_errors} requests answered 500 under chaos\n{json}");
    }
    if load.ok == 0 {
        bail!("no request succeeded\n{json}");
    }
    Ok(Report {
        rows: labelled(rows),
        json,
    })
}

fn apis_of(target: &Target, args: &ChaosArgs) -> anyhow::Result<Vec<Api>> {
    let mut apis = vec![Api::new(target.api.base())?];
    for url in &args.also {
        apis.push(Api::new(url)?);
    }
    Ok(apis)
}

/// One request of `op` on `api`: its status, after recording what it acknowledged. Errors are
/// named: `transport`, or the unexpected status.
async fn one_request(
    api: &Api,
    practice: &Practice,
    seen: &Mutex<Seen>,
    op: Op,
    draw: u64,
    slot: u64,
) -> Result<StatusCode, String> {
    let pick = usize::try_from((draw >> 8) % practice.patients.len() as u64).unwrap_or_default();
    let admin = practice.org.admin_token.as_str();
    let json_body = |value: Value| Bytes::from(value.to_string());
    let taken = match op {
        Op::Complete => seen.lock().expect("the seen lock").open.pop_front(),
        _ => None,
    };
    let (answer, expected) = match (op, taken) {
        (Op::Book, _) => (
            api.post_raw(
                "/api/appointments",
                json_body(practice.booking(slot)),
                Some(&practice.scheduler_token),
            )
            .await,
            StatusCode::CREATED,
        ),
        (Op::Reserve, _) => {
            // Two hours ago: left open, it is stale a minute after its end (the script sets
            // the stale threshold to one minute), so the stale job has work during the chaos.
            let start = two_hours_ago();
            let body = json!({
                "authorizationId": practice.authorizations[pick],
                "startTime": start,
                "expectedUnits": 1,
            });
            (
                api.post_raw("/api/sessions", json_body(body), Some(admin))
                    .await,
                StatusCode::CREATED,
            )
        }
        (Op::Complete, Some(id)) => (
            api.post_raw(
                &format!("/api/sessions/{id}/complete"),
                json_body(json!({ "actualUnits": 1 })),
                Some(admin),
            )
            .await,
            StatusCode::OK,
        ),
        (Op::Complete | Op::Read, _) => (
            api.get_with(&format!("/api/patients/{}", practice.patients[pick]), admin)
                .await,
            StatusCode::OK,
        ),
    };
    let answer = answer.map_err(|_| "transport".to_owned())?;
    if answer.status == StatusCode::SERVICE_UNAVAILABLE {
        if let (Op::Complete, Some(id)) = (op, taken) {
            // Not done: another client may try it again.
            seen.lock().expect("the seen lock").open.push_back(id);
        }
        return Ok(answer.status);
    }
    if let (Op::Complete, Some(_)) = (op, taken)
        && answer.status == StatusCode::CONFLICT
    {
        seen.lock().expect("the seen lock").completion_conflicts += 1;
        return Ok(answer.status);
    }
    if answer.status != expected {
        return Err(format!("{} {}", op.name(), answer.status.as_u16()));
    }
    let id = |key: &str| -> Result<Uuid, String> {
        let body: Value =
            serde_json::from_slice(&answer.body).map_err(|_| "not JSON".to_owned())?;
        body[key]["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| format!("{key} without an id"))
    };
    let mut seen = seen.lock().expect("the seen lock");
    match (op, taken) {
        (Op::Book, _) => seen.appointments.push(id("appointment")?),
        (Op::Reserve, _) => {
            let session = id("session")?;
            seen.reserved.push(session);
            seen.open.push_back(session);
        }
        (Op::Complete, Some(session)) => seen.completed.push(session),
        _ => {}
    }
    Ok(answer.status)
}

/// RFC 3339 of two hours ago (UTC).
fn two_hours_ago() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    super::booking::rfc3339(i64::try_from(now.as_secs()).unwrap_or_default() - 2 * 3600)
}
