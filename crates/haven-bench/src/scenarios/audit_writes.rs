//! The audit writer's own throughput: no HTTP, no handler, only what every audited request adds.
//!
//! N tasks of this process loop over Haven's library exactly as a handler records an event on its
//! own: `AppPool::begin_tenant` (BEGIN and the tenant's `set_config`), `audit::record` (one
//! INSERT into `audit_outbox`), commit. The pool connects as the app role to the started Haven's
//! embedded cluster, so row-level security applies as in the server. Organizations are taken
//! round-robin among `--orgs` of them (one chain each), created directly for the run. Meanwhile
//! the running server's background sealer chains what commits; when the load ends the outbox
//! backlog is counted and the time the sealer takes to empty it is measured.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use haven::audit::{self, AccessMethod, AuditAction, AuditEvent, RequestMeta};
use haven::db::AppPool;
use haven::domain::Role;
use haven::ids::{OrganizationId, PatientId, UserId};
use serde_json::json;
use sqlx::Connection as _;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{Report, cpu_text, errors_text, labelled, latency_text, memory_text};
use crate::cli::AuditWritesArgs;
use crate::cpu;
use crate::db;
use crate::load;
use crate::target::{self, Target};

/// How often the outbox is counted after the load, and how long the sealer may take to empty it.
const DRAIN_POLL: Duration = Duration::from_millis(100);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(600);

/// Creates the organizations, writes events for the duration, then lets the sealer catch up.
pub async fn run(target: &Target, args: &AuditWritesArgs) -> anyhow::Result<Report> {
    let server = target.started()?;
    let concurrency = usize::from(args.load.concurrency);
    let mut owner = db::owner(server).await?;
    let orgs: Arc<Vec<OrganizationId>> = Arc::new(
        db::organizations(&mut owner, "Bench audit-writes", args.orgs)
            .await?
            .into_iter()
            .map(OrganizationId::from_uuid)
            .collect(),
    );
    let pool = AppPool::connect(db::app_options(server), args.pool).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let actor = UserId::new();
    let write = move |_worker: usize| {
        let pool = pool.clone();
        let org = orgs[next.fetch_add(1, Ordering::Relaxed) % orgs.len()];
        async move { write_one(&pool, org, actor).await }
    };

    // One write per worker, all at once: opens the connections and checks the grants.
    let mut warm = JoinSet::new();
    for worker in 0..concurrency {
        warm.spawn(write(worker));
    }
    while let Some(outcome) = warm.join_next().await {
        outcome?.map_err(|kind| anyhow::anyhow!("warm-up write failed: {kind}"))?;
    }
    // The load starts with the warm-up's events sealed.
    db::wait_for_empty_outbox(&mut owner, DRAIN_POLL, DRAIN_TIMEOUT).await?;

    let (cpu_before, started) = (target.cpu_snapshot(), Instant::now());
    let mut writes = load::run_ops(concurrency, args.load.duration, write).await?;
    let cpu = cpu::Usage::between(cpu_before, target.cpu_snapshot(), started.elapsed());
    let after = target.memory();
    let backlog = db::outbox_backlog(&mut owner).await?;
    let drained = db::wait_for_empty_outbox(&mut owner, DRAIN_POLL, DRAIN_TIMEOUT).await?;
    owner.close().await?;

    let latency = writes.latencies.summary();
    let per_sec = writes.ok_per_sec();
    let sealed_per_sec =
        (writes.ok as f64) / (writes.elapsed.as_secs_f64() + drained.as_secs_f64()).max(1e-9);
    let idle = target.idle_memory();
    let mut rows = vec![
        (
            "scenario",
            "audit writes (library: begin_tenant → audit::record → commit, one event per \
             transaction)"
                .to_owned(),
        ),
        (
            "target",
            format!("{} ({})", target.api.base(), target.database()),
        ),
        (
            "concurrency",
            format!(
                "{} tasks on a pool of {} connections (haven_app), {} organization(s) \
                 round-robin",
                args.load.concurrency, args.pool, args.orgs
            ),
        ),
        (
            "duration",
            format!(
                "{:?} requested, {:.2} s elapsed",
                args.load.duration,
                writes.elapsed.as_secs_f64()
            ),
        ),
        (
            "writes",
            format!(
                "{} ({} committed; errors: {})",
                writes.requests,
                writes.ok,
                errors_text(&writes.errors)
            ),
        ),
        ("throughput", format!("{per_sec:.1} committed events/s")),
        ("latency", latency_text(latency)),
        (
            "audit outbox",
            format!(
                "{backlog} events unsealed when the load ended; the sealer emptied the outbox \
                 {:.2} s later ({sealed_per_sec:.0} events/s sealed from the start of the load \
                 to then)",
                drained.as_secs_f64()
            ),
        ),
        ("memory", memory_text(idle, after)),
        (
            "cpu during load",
            cpu_text(&cpu, writes.elapsed, writes.ok, "event"),
        ),
    ];
    rows.push((
        "note",
        "haven's own CPU here is the sealer (the server serves no requests); the writers' is \
         haven-bench's"
            .to_owned(),
    ));
    let json = json!({
        "scenario": "audit-writes",
        "target": target.to_json(),
        "concurrency": args.load.concurrency,
        "pool": args.pool,
        "orgs": args.orgs,
        "durationSecs": args.load.duration.as_secs_f64(),
        "elapsedSecs": writes.elapsed.as_secs_f64(),
        "requests": writes.requests,
        "ok": writes.ok,
        "errors": writes.errors,
        "okPerSec": per_sec,
        "latency": latency.to_json(),
        "outbox": {
            "backlogAtEnd": backlog,
            "drainedSecs": drained.as_secs_f64(),
            "sealedPerSec": sealed_per_sec,
        },
        "memory": target::memory_json(idle, after),
        "cpu": cpu.to_json(),
    });
    Ok(Report {
        rows: labelled(rows),
        json,
    })
}

/// One audited event in a transaction of its own, as `haven::audit::record_alone` does, but
/// with the tenant transaction spelled out (the benchmark is of these three steps).
async fn write_one(pool: &AppPool, org: OrganizationId, actor: UserId) -> load::Outcome {
    let patient = PatientId::new();
    let meta = RequestMeta {
        ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        user_agent: None,
        request_id: Some(Uuid::now_v7().to_string()),
    };
    let event = AuditEvent::new(AuditAction::PatientRead)
        .with_actor(actor, Role::Admin)
        .with_access_method(AccessMethod::Normal)
        .with_entity("patient", patient)
        .with_patient(patient)
        .with_request(&meta);
    let mut tx = pool.begin_tenant(org, None).await.map_err(kind)?;
    audit::record(&mut tx, &event).await.map_err(kind)?;
    tx.commit().await.map_err(kind)
}

/// The kind of a database error, to tally failures by: an SQLSTATE, or the driver's word.
fn kind(error: sqlx::Error) -> String {
    match &error {
        sqlx::Error::Database(db) => format!(
            "sqlstate {}",
            db.code().map_or_else(|| "?".to_owned(), |c| c.into_owned())
        ),
        sqlx::Error::PoolTimedOut => "pool timed out".to_owned(),
        sqlx::Error::Io(_) => "io".to_owned(),
        _ => "driver".to_owned(),
    }
}
