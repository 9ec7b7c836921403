//! Clinical notes (SPEC §6, measured beside the patient read): reading a note with its content,
//! and signing one.
//!
//! - `note-read`: an ADMIN writes `--notes` SOAP drafts over 100 patients, then
//!   the clients read them by id at random: per request the RS256 token, a tenant transaction,
//!   the note row and its access decision (supervision look-up, emergency-grant look-up), the
//!   current version decrypted (one AES-256-GCM blob), its signatures read and each HMAC
//!   re-computed over the decrypted version, addenda, the NOTE_READ outbox row, COMMIT before
//!   the answer.
//! - `note-sign`: every client is its own ADMIN (a re-authentication in flight counts toward its
//!   account's lock, so one account per client) with `--notes-per-client` complete drafts of its
//!   own; each request signs the next one with the password: the readiness check (decrypt,
//!   required sections), the attempt counted (a committed UPDATE), Argon2id on the bounded
//!   hashing pool, the attempt given back, then the note locked FOR UPDATE, checked again, the
//!   HMAC, the signature row, the status change and the NOTE_SIGN row in one transaction.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use hyper::StatusCode;
use hyper::body::Bytes;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::patients::{seed_from_clock, splitmix64};
use super::{Report, cpu_text, errors_text, labelled, latency_text, memory_text};
use crate::cli::{LoadArgs, NoteReadArgs, NoteSignArgs};
use crate::cpu;
use crate::http::Api;
use crate::load::{self, LoadReport};
use crate::seed;
use crate::target::{self, Target};

const NOTES: &str = "/api/notes";
const PATIENTS: u64 = 100;
const SEED_PARALLEL: usize = 8;

fn soap(patient: &str) -> Value {
    json!({
        "patientId": patient,
        "noteType": "PROGRESS",
        "format": "SOAP",
        "sections": {
            "subjective": "Parent reports fewer evening meltdowns this week; sleep improved to nine hours.",
            "objective": "Engaged for 45 of 50 minutes; completed 18 of 20 trials of the matching program.",
            "assessment": "Progress toward goal 2 (transitions) ahead of plan; goal 4 unchanged.",
            "plan": "Continue weekly sessions; fade prompts on matching; review goal 4 with the BCBA.",
        },
        "diagnosisCodes": ["F84.0"],
    })
}

/// Writes `count` notes as `token`, spread over `patients`, `SEED_PARALLEL` at a time.
async fn seed_notes(
    api: &Api,
    token: &str,
    patients: &[String],
    count: u64,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(usize::try_from(count)?);
    let mut running = JoinSet::new();
    let mut next = 0;
    while next < count || !running.is_empty() {
        while next < count && running.len() < SEED_PARALLEL {
            let patient = &patients[usize::try_from(next % patients.len() as u64)?];
            let (api, token, body) = (api.clone(), token.to_owned(), soap(patient));
            running.spawn(async move {
                let json = api
                    .post(NOTES, &body, Some(&token))
                    .await?
                    .json(StatusCode::CREATED, "writing a note")?;
                json["note"]["id"]
                    .as_str()
                    .map(str::to_owned)
                    .context("the new note has no id")
            });
            next += 1;
        }
        if let Some(done) = running.join_next().await {
            ids.push(done??);
        }
    }
    Ok(ids)
}

async fn measure<F, Fut>(
    target: &Target,
    args: &LoadArgs,
    request: F,
) -> anyhow::Result<(LoadReport, cpu::Usage)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<StatusCode>> + Send,
{
    let (before, started) = (target.cpu_snapshot(), Instant::now());
    let load = load::run(
        usize::from(args.concurrency),
        args.duration,
        StatusCode::OK,
        request,
    )
    .await?;
    let cpu = cpu::Usage::between(before, target.cpu_snapshot(), started.elapsed());
    Ok((load, cpu))
}

fn report(
    target: &Target,
    args: &LoadArgs,
    description: String,
    unit: &str,
    (mut load, cpu): (LoadReport, cpu::Usage),
) -> Report {
    let latency = load.latencies.summary();
    let per_sec = load.ok_per_sec();
    let (idle, after) = (target.idle_memory(), target.memory());
    let rows = vec![
        ("scenario", description),
        (
            "target",
            format!("{} ({})", target.api.base(), target.database()),
        ),
        ("concurrency", format!("{} clients", args.concurrency)),
        (
            "duration",
            format!(
                "{:?} requested, {:.2} s elapsed",
                args.duration,
                load.elapsed.as_secs_f64()
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
        ("throughput", format!("{per_sec:.1} {unit}s/s")),
        ("latency", latency_text(latency)),
        ("memory", memory_text(idle, after)),
        (
            "cpu during load",
            cpu_text(&cpu, load.elapsed, load.ok, unit),
        ),
    ];
    let json = json!({
        "scenario": unit,
        "concurrency": args.concurrency,
        "elapsedSecs": load.elapsed.as_secs_f64(),
        "requests": load.requests,
        "ok": load.ok,
        "errors": load.errors,
        "perSec": per_sec,
        "latency": latency.to_json(),
        "memory": target::memory_json(idle, after),
    });
    Report {
        rows: labelled(rows),
        json,
    }
}

/// `note-read`.
pub async fn read(target: &Target, args: &NoteReadArgs) -> anyhow::Result<Report> {
    let org = seed::organization(target).await?;
    let patients = seed::patients(&target.api, &org, 0, PATIENTS, SEED_PARALLEL).await?;
    let ids = seed_notes(
        &target.api,
        &org.admin_token,
        &patients,
        u64::from(args.notes),
    )
    .await?;
    let paths: Arc<Vec<String>> = Arc::new(ids.iter().map(|id| format!("{NOTES}/{id}")).collect());
    let api = Api::new(target.api.base())?;
    let token: Arc<str> = Arc::from(org.admin_token.as_str());
    let draws = Arc::new(AtomicU64::new(seed_from_clock()));
    let request = move |_client: usize| {
        let (api, token, paths) = (api.clone(), Arc::clone(&token), Arc::clone(&paths));
        let pick = splitmix64(draws.fetch_add(1, Ordering::Relaxed)) % paths.len() as u64;
        async move {
            let path = &paths[usize::try_from(pick)?];
            Ok(api.get_with(path, &token).await?.status)
        }
    };
    let measured = measure(target, &args.load, request).await?;
    Ok(report(
        target,
        &args.load,
        format!(
            "note read (ADMIN, GET /api/notes/{{id}} of {} seeded SOAP drafts at random: JWT, \
             RLS, access decision, content decrypted, NOTE_READ committed before the answer)",
            args.notes
        ),
        "read",
        measured,
    ))
}

/// One client's account and its drafts.
struct Signer {
    token: String,
    drafts: Vec<String>,
    next: AtomicUsize,
}

/// `note-sign`.
pub async fn sign(target: &Target, args: &NoteSignArgs) -> anyhow::Result<Report> {
    let clients = usize::from(args.load.concurrency);
    let org = seed::organization(target).await?;
    let patients = seed::patients(&target.api, &org, 0, PATIENTS, SEED_PARALLEL).await?;
    let accounts = seed::users(&target.api, &org, "ADMIN", clients).await?;
    let mut signers = Vec::with_capacity(clients);
    for account in &accounts {
        let token = seed::login(&target.api, &account.email, &account.password).await?;
        let drafts = seed_notes(
            &target.api,
            &token,
            &patients,
            u64::from(args.notes_per_client),
        )
        .await?;
        signers.push(Signer {
            token,
            drafts,
            next: AtomicUsize::new(0),
        });
    }
    let signers = Arc::new(signers);
    let api = Api::new(target.api.base())?;
    let body = Bytes::from(json!({ "password": seed::PASSWORD }).to_string());
    let request = move |client: usize| {
        let (api, signers, body) = (api.clone(), Arc::clone(&signers), body.clone());
        async move {
            let signer = &signers[client];
            let n = signer.next.fetch_add(1, Ordering::Relaxed);
            let id = signer
                .drafts
                .get(n)
                .context("this client signed all its drafts (raise --notes-per-client)")?;
            Ok(api
                .post_raw(&format!("{NOTES}/{id}/sign"), body, Some(&signer.token))
                .await?
                .status)
        }
    };
    let measured = measure(target, &args.load, request).await?;
    Ok(report(
        target,
        &args.load,
        format!(
            "note sign (each client its own ADMIN signing its own SOAP drafts with its password: \
             Argon2id on the hashing pool, attempt counted, row lock, HMAC, NOTE_SIGN; {} drafts \
             per client)",
            args.notes_per_client
        ),
        "sign",
        measured,
    ))
}
