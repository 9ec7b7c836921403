//! Scheduling (SPEC §10, issue 15 "Measure"): a SCHEDULER books one 60-minute appointment with
//! units per request (`book`), or a weekly series of 52 with units (`book-series`), over a
//! practice seeded through the API: `--clinicians` clinicians available every day 08:00–17:00
//! UTC, `--patients` patients, each with one authorization of 100,000 units.
//!
//! Every request gets distinct free times, so that nearly all succeed: request `n` (counted
//! across the clients, warm-ups first) goes to clinician `n % clinicians` and patient
//! `n % patients`, at one-hour slot `n / clinicians` (slot `s` = day `s / 9` from tomorrow, hour
//! `8 + s % 9` UTC). Two requests at one time therefore never share a clinician or a patient
//! (`patients ≥ clinicians`); a 409 would be a real conflict, and is counted. A series takes
//! the same clinician and patient for the weekday and hour of its slot, for 52 weeks.
//!
//! After the load, in SQL: zero overlapping active appointments (self-joins per clinician, busy
//! ranges, and per patient, outside explicit concurrency), one per 201, and the ledger invariant
//! (`haven_units.ledger_check()`, as for the unit scenarios); the run fails loudly otherwise.
//! `book --pgbench DIR` then runs `bench/pgbench/book.sql` (the statements of Haven's booking,
//! one by one) with as many clients as Haven's pool, on times after the HTTP load's, and checks
//! again.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hyper::StatusCode;
use hyper::body::Bytes;
use serde_json::{Value, json};
use sqlx::Connection as _;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::units::{self, Ledger, date, days_now};
use super::{Report, cpu_text, errors_text, labelled, latency_text, memory_text, verdict};
use crate::cli::{BookArgs, BookSeriesArgs, LoadArgs, PracticeArgs};
use crate::cpu;
use crate::db;
use crate::http::Api;
use crate::load::{self, LoadReport};
use crate::memory::{Memory, mib};
use crate::pgbench::Pgbench;
use crate::seed::{self, Organization};
use crate::target::{self, Target};

const APPOINTMENTS: &str = "/api/appointments";
const SERIES: &str = "/api/appointment-series";
const SEED_PARALLEL: usize = 8;
/// Users are created fewer at a time: each costs the server an Argon2id hash.
const USERS_PARALLEL: usize = 2;
const DOMAIN: &str = "bench.haven.test";
/// What every booking is for.
pub const SERVICE_CODE: &str = "97153";
/// Every appointment's length.
pub const MINUTES: i64 = 60;
/// The hours a clinician works (UTC), every day: slots start at 08:00 … 16:00.
pub const FIRST_HOUR: u64 = 8;
/// One-hour slots a day.
pub const SLOTS_PER_DAY: u64 = 9;
const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
/// SPEC §10.
const BOOK_TARGET_OF_PGBENCH: f64 = 70.0;
const SERIES_TARGET_P99: Duration = Duration::from_millis(100);
const DRAIN_POLL: Duration = Duration::from_millis(100);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(600);

/// The seeded practice.
pub struct Practice {
    /// The organization and its ADMIN.
    pub org: Organization,
    /// The SCHEDULER who books.
    pub scheduler_id: String,
    /// A bearer token of the SCHEDULER.
    pub scheduler_token: String,
    /// Clinician user ids.
    pub clinicians: Vec<String>,
    /// Patient ids.
    pub patients: Vec<String>,
    /// `authorizations[p]` is `patients[p]`'s (empty when not asked for).
    pub authorizations: Vec<String>,
    /// Day number (UTC) of slot 0: tomorrow.
    pub first_day: i64,
}

impl Practice {
    /// Seeds it through the API, with one authorization per patient when `units`.
    pub async fn seed(target: &Target, args: &PracticeArgs, units: bool) -> anyhow::Result<Self> {
        anyhow::ensure!(
            args.patients >= args.clinicians,
            "--patients ({}) must be at least --clinicians ({}): two bookings at one time must \
             not share a patient",
            args.patients,
            args.clinicians
        );
        let api = &target.api;
        let org = seed::organization(target).await?;
        let (scheduler_id, email) = user(api, &org, "SCHEDULER", 0).await?;
        let scheduler_token = seed::login(api, &email, seed::PASSWORD).await?;
        let clinicians = clinicians(api, &org, args.clinicians as usize).await?;
        let today = days_now();
        let week = json!({
            "timeZone": "UTC",
            "rules": [{
                "daysOfWeek": DAYS,
                "startTime": format!("{FIRST_HOUR:02}:00"),
                "endTime": format!("{:02}:00", FIRST_HOUR + SLOTS_PER_DAY),
            }],
            "bufferMinutes": 0,
            "effectiveFrom": date(today - 1),
        });
        for clinician in &clinicians {
            api.put(
                &format!("/api/clinicians/{clinician}/availability"),
                &week,
                &org.admin_token,
            )
            .await?
            .json(StatusCode::OK, "setting a clinician's availability")?;
        }
        let patients =
            seed::patients(api, &org, 0, u64::from(args.patients), SEED_PARALLEL).await?;
        let authorizations = if units {
            units::authorizations(api, &org, &patients, args.patients, units::TOTAL_UNITS).await?
        } else {
            Vec::new()
        };
        if let Ok(server) = target.started() {
            for table in [
                "users",
                "patients",
                "authorizations",
                "clinician_availability",
                "availability_rules",
            ] {
                db::analyze(server, table).await?;
            }
        }
        Ok(Self {
            org,
            scheduler_id,
            scheduler_token,
            clinicians,
            patients,
            authorizations,
            first_day: today + 1,
        })
    }

    /// Clinician, patient (index) and one-hour slot of request `n`.
    fn assign(&self, n: u64) -> (usize, usize, u64) {
        let c = self.clinicians.len() as u64;
        let p = self.patients.len() as u64;
        ((n % c) as usize, (n % p) as usize, n / c)
    }

    /// The body of `POST /api/appointments` for request `n`.
    pub(super) fn booking(&self, n: u64) -> Value {
        let (c, p, slot) = self.assign(n);
        json!({
            "patientId": self.patients[p],
            "clinicianId": self.clinicians[c],
            "start": rfc3339(slot_start(self.first_day, slot)),
            "durationMinutes": MINUTES,
            "serviceCode": SERVICE_CODE,
            "authorizationId": self.authorizations[p],
        })
    }

    /// The body of `POST /api/appointment-series` for request `n`: `occurrences` weeks on the
    /// weekday and at the hour of its slot (the 63 weekday-hours of a week, then the same a
    /// year later, past the authorizations: those answer 409 and are counted).
    fn series(&self, n: u64, occurrences: u32) -> Value {
        let (c, p, slot) = self.assign(n);
        let per_week = 7 * SLOTS_PER_DAY;
        let weekday_offset = (slot % per_week / SLOTS_PER_DAY) as i64;
        let hour = FIRST_HOUR + slot % SLOTS_PER_DAY;
        let first = self.first_day + weekday_offset + (slot / per_week) as i64 * 7 * 53;
        json!({
            "patientId": self.patients[p],
            "clinicianId": self.clinicians[c],
            "serviceCode": SERVICE_CODE,
            "authorizationId": self.authorizations[p],
            "timeZone": "UTC",
            "startDate": date(first),
            "startTime": format!("{hour:02}:00"),
            "durationMinutes": MINUTES,
            "recurrence": {
                "frequency": "WEEKLY",
                "interval": 1,
                "byDay": [weekday(first)],
                "count": occurrences,
            },
            "onConflict": "reject",
        })
    }
}

/// Creates a user of `role` as the ADMIN: (id, email).
async fn user(
    api: &Api,
    org: &Organization,
    role: &str,
    n: usize,
) -> anyhow::Result<(String, String)> {
    create_user(api, &org.admin_token, &org.run, role, n).await
}

async fn create_user(
    api: &Api,
    admin_token: &str,
    run: &str,
    role: &str,
    n: usize,
) -> anyhow::Result<(String, String)> {
    let email = format!("{}{n}-{run}@{DOMAIN}", role.to_lowercase());
    let body = json!({
        "email": email,
        "password": seed::PASSWORD,
        "role": role,
        "firstName": "Load",
        "lastName": format!("{} {n}", role.to_lowercase()),
    });
    let created = api
        .post("/api/users", &body, Some(admin_token))
        .await?
        .json(StatusCode::CREATED, &format!("creating {role} {n}"))?;
    let id = created["user"]["id"]
        .as_str()
        .map(str::to_owned)
        .context("the new user has no id")?;
    Ok((id, email))
}

/// `count` CLINICIAN users; their ids.
async fn clinicians(api: &Api, org: &Organization, count: usize) -> anyhow::Result<Vec<String>> {
    let mut ids = vec![String::new(); count];
    let mut running = JoinSet::new();
    let mut next = 0;
    while next < count || !running.is_empty() {
        while next < count && running.len() < USERS_PARALLEL {
            let api = api.clone();
            let (admin, run) = (org.admin_token.clone(), org.run.clone());
            running.spawn(async move {
                let (id, _) = create_user(&api, &admin, &run, "CLINICIAN", next).await?;
                anyhow::Ok((next, id))
            });
            next += 1;
        }
        if let Some(done) = running.join_next().await {
            let (n, id) = done??;
            ids[n] = id;
        }
    }
    Ok(ids)
}

/// Seconds since the epoch of one-hour slot `slot` counted from day `first_day`.
#[must_use]
pub fn slot_start(first_day: i64, slot: u64) -> i64 {
    let day = first_day + (slot / SLOTS_PER_DAY) as i64;
    day * 86_400 + ((FIRST_HOUR + slot % SLOTS_PER_DAY) * 3600) as i64
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
#[must_use]
pub fn rfc3339(secs: i64) -> String {
    let s = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(secs.div_euclid(86_400)),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `MO` … `SU` of a day number (1970-01-01 was a Thursday).
fn weekday(days: i64) -> &'static str {
    DAYS[(days + 3).rem_euclid(7) as usize]
}

/// What the calendar holds after a load, from SQL.
#[derive(Debug, Clone, Copy)]
pub struct Calendar {
    /// Active appointments.
    pub appointments: i64,
    /// Of which with units (a session).
    pub with_units: i64,
    /// Pairs of active entries of one clinician whose busy ranges overlap.
    pub clinician_overlaps: i64,
    /// Pairs of active appointments of one patient that overlap, neither naming the other.
    pub patient_overlaps: i64,
}

impl Calendar {
    /// Counts them as the owner (every row of `org`).
    pub async fn check(server: &crate::server::HavenProcess, org: Uuid) -> anyhow::Result<Self> {
        let mut conn = db::owner(server).await?;
        let (appointments, with_units): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(session_id) FROM calendar_entries \
             WHERE organization_id = $1 AND kind = 'APPOINTMENT' \
               AND status IN ('HELD', 'BOOKED', 'CHECKED_IN')",
        )
        .bind(org)
        .fetch_one(&mut conn)
        .await
        .context("counting the appointments")?;
        let clinician_overlaps: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM calendar_entries a JOIN calendar_entries b \
                 ON b.organization_id = a.organization_id AND b.clinician_id = a.clinician_id \
                AND b.id > a.id AND b.busy && a.busy \
             WHERE a.organization_id = $1 \
               AND a.status IN ('HELD', 'BOOKED', 'CHECKED_IN', 'ACTIVE') \
               AND b.status IN ('HELD', 'BOOKED', 'CHECKED_IN', 'ACTIVE')",
        )
        .bind(org)
        .fetch_one(&mut conn)
        .await
        .context("looking for overlaps per clinician")?;
        let patient_overlaps: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM calendar_entries a JOIN calendar_entries b \
                 ON b.organization_id = a.organization_id AND b.patient_id = a.patient_id \
                AND b.id > a.id AND b.during && a.during \
             WHERE a.organization_id = $1 AND a.kind = 'APPOINTMENT' AND b.kind = 'APPOINTMENT' \
               AND a.status IN ('HELD', 'BOOKED', 'CHECKED_IN') \
               AND b.status IN ('HELD', 'BOOKED', 'CHECKED_IN') \
               AND a.concurrent_with_id IS DISTINCT FROM b.id \
               AND b.concurrent_with_id IS DISTINCT FROM a.id",
        )
        .bind(org)
        .fetch_one(&mut conn)
        .await
        .context("looking for overlaps per patient")?;
        conn.close().await?;
        Ok(Self {
            appointments,
            with_units,
            clinician_overlaps,
            patient_overlaps,
        })
    }

    /// One line for the report.
    #[must_use]
    pub fn text(&self) -> String {
        format!(
            "{} active appointments ({} with units); overlapping pairs: {} per clinician, {} \
             per patient",
            self.appointments, self.with_units, self.clinician_overlaps, self.patient_overlaps
        )
    }

    /// The same as JSON.
    #[must_use]
    pub fn to_json(self) -> Value {
        json!({ "appointments": self.appointments, "withUnits": self.with_units,
                "clinicianOverlaps": self.clinician_overlaps,
                "patientOverlaps": self.patient_overlaps })
    }
}

/// The calendar and the ledger of `org` after `granted` appointments were answered 201 (and
/// no unit moved otherwise): fails unless there is no overlap, one active appointment with
/// units per grant, and a consistent ledger whose units are all held.
async fn verify(
    server: &crate::server::HavenProcess,
    org: Uuid,
    granted: i64,
    when: &str,
) -> anyhow::Result<(Calendar, Ledger)> {
    let calendar = Calendar::check(server, org).await?;
    anyhow::ensure!(
        calendar.clinician_overlaps == 0 && calendar.patient_overlaps == 0,
        "OVERLAPPING APPOINTMENTS {when}: {}",
        calendar.text()
    );
    anyhow::ensure!(
        calendar.appointments == granted && calendar.with_units == granted,
        "{when}: {granted} appointments answered 201 but {}",
        calendar.text()
    );
    let ledger = Ledger::check(server, org, None).await?;
    anyhow::ensure!(
        ledger.inconsistent == 0,
        "LEDGER INVARIANT BROKEN {when}: {}",
        ledger.text()
    );
    anyhow::ensure!(
        ledger.ledger == ledger.used && ledger.held == ledger.used && ledger.consumed == 0,
        "LOST OR EXTRA UNITS {when}: {}",
        ledger.text()
    );
    Ok((calendar, ledger))
}

/// Sends one request per client at once (requests `0..concurrency`): each must answer 201.
async fn warm_up<F, Fut>(concurrency: usize, request: &F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<StatusCode>> + Send + 'static,
{
    let mut running = JoinSet::new();
    for client in 0..concurrency {
        running.spawn(request(client));
    }
    while let Some(status) = running.join_next().await {
        let status = status??;
        anyhow::ensure!(
            status == StatusCode::CREATED,
            "warm-up booking: expected 201, got {status}"
        );
    }
    Ok(())
}

/// What the HTTP load measured.
struct Measured {
    load: LoadReport,
    cpu: cpu::Usage,
    memory: (Option<Memory>, Option<Memory>),
    /// Right before the load, after the seeding (whose Argon2id hashes of the users created
    /// leave the process larger than idle).
    seeded: Option<Memory>,
    /// Haven's open database connections right after the load (with --start).
    connections: Option<i64>,
}

async fn measure<F, Fut>(target: &Target, args: &LoadArgs, request: F) -> anyhow::Result<Measured>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<StatusCode>> + Send,
{
    let seeded = target.memory();
    let (before, started) = (target.cpu_snapshot(), Instant::now());
    let load = load::run(
        usize::from(args.concurrency),
        args.duration,
        StatusCode::CREATED,
        request,
    )
    .await?;
    let cpu = cpu::Usage::between(before, target.cpu_snapshot(), started.elapsed());
    let memory = (target.idle_memory(), target.memory());
    let connections = match target.started() {
        Ok(server) => {
            let mut conn = db::owner(server).await?;
            let count: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'haven'",
            )
            .fetch_one(&mut conn)
            .await?;
            conn.close().await?;
            Some(count)
        }
        Err(_) => None,
    };
    Ok(Measured {
        load,
        cpu,
        memory,
        seeded,
        connections,
    })
}

/// With --start: the outbox backlog when the load ended, and how long the sealer took to
/// empty it.
async fn drain(target: &Target) -> anyhow::Result<Option<(i64, Duration)>> {
    let Ok(server) = target.started() else {
        return Ok(None);
    };
    let mut conn = db::owner(server).await?;
    let backlog = db::outbox_backlog(&mut conn).await?;
    let drained = db::wait_for_empty_outbox(&mut conn, DRAIN_POLL, DRAIN_TIMEOUT).await?;
    conn.close().await?;
    Ok(Some((backlog, drained)))
}

/// Rows and JSON common to both scenarios.
fn common(
    target: &Target,
    args: &LoadArgs,
    measured: &mut Measured,
    name: &str,
    description: String,
    (unit, units): (&str, &str),
) -> (Vec<(&'static str, String)>, Value) {
    let load = &mut measured.load;
    let (idle, after) = measured.memory;
    let latency = load.latencies.summary();
    let concurrency = usize::from(args.concurrency);
    let rows = vec![
        ("scenario", description),
        (
            "target",
            format!("{} ({})", target.api.base(), target.database()),
        ),
        (
            "concurrency",
            format!("{} clients, one SCHEDULER token", args.concurrency),
        ),
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
                "{} ({} × 201; errors: {}) + {concurrency} warm-up 201s",
                load.requests,
                load.ok,
                errors_text(&load.errors)
            ),
        ),
        ("throughput", format!("{:.1} {units}/s", load.ok_per_sec())),
        ("latency", latency_text(latency)),
        ("memory", memory_text(idle, after)),
        ("memory before the load", seeded_text(measured.seeded)),
        (
            "cpu during load",
            cpu_text(&measured.cpu, load.elapsed, load.ok, unit),
        ),
        (
            "haven's connections",
            measured.connections.map_or_else(
                || "not measured (only with --start)".to_owned(),
                |n| format!("{n} open to PostgreSQL right after the load (its pool)"),
            ),
        ),
    ];
    let json = json!({
        "scenario": name,
        "target": target.to_json(),
        "concurrency": args.concurrency,
        "durationSecs": args.duration.as_secs_f64(),
        "elapsedSecs": load.elapsed.as_secs_f64(),
        "requests": load.requests,
        "ok": load.ok,
        "warmUp": concurrency,
        "errors": load.errors,
        "okPerSec": load.ok_per_sec(),
        "latency": latency.to_json(),
        "memory": target::memory_json(idle, after),
        "memoryBeforeLoadMib": measured.seeded.map(|m| mib(m.rss_kib)),
        "cpu": measured.cpu.to_json(),
        "havenConnections": measured.connections,
    });
    (rows, json)
}

/// The haven process's RSS after the seeding, right before the load.
pub fn seeded_text(seeded: Option<Memory>) -> String {
    seeded.map_or_else(
        || "not measured (only with --start)".to_owned(),
        |m| {
            format!(
                "haven process RSS {:.1} MiB after the seeding through the API (users' \
                 Argon2id hashes included), peak {:.1} MiB",
                mib(m.rss_kib),
                mib(m.peak_kib)
            )
        },
    )
}

/// 5xx answers: a deadlock or serialization failure that reached a client would be one.
fn server_errors(load: &LoadReport) -> u64 {
    load.errors
        .iter()
        .filter(|(status, _)| status.starts_with('5'))
        .map(|(_, n)| n)
        .sum()
}

/// `book`: one appointment with units per request.
pub async fn book(target: &Target, args: &BookArgs) -> anyhow::Result<Report> {
    let practice = Arc::new(Practice::seed(target, &args.practice, true).await?);
    let concurrency = usize::from(args.load.concurrency);
    let api = Api::new(target.api.base())?;
    let token: Arc<str> = Arc::from(practice.scheduler_token.as_str());
    let next = Arc::new(AtomicU64::new(0));
    let request = {
        let (practice, next) = (Arc::clone(&practice), Arc::clone(&next));
        move |_client: usize| {
            let (api, token) = (api.clone(), Arc::clone(&token));
            let body = practice.booking(next.fetch_add(1, Ordering::Relaxed));
            let body = Bytes::from(body.to_string());
            async move { Ok(api.post_raw(APPOINTMENTS, body, Some(&token)).await?.status) }
        }
    };
    warm_up(concurrency, &request).await?;
    let mut measured = measure(target, &args.load, request).await?;
    let description = format!(
        "book: SCHEDULER, POST /api/appointments (60 min, 97153, authorizationId: units \
         reserved) over {} clinicians and {} patients, each request at its own free time",
        practice.clinicians.len(),
        practice.patients.len()
    );
    let (mut rows, mut json) = common(
        target,
        &args.load,
        &mut measured,
        "book",
        description,
        ("booking", "bookings"),
    );
    let granted = measured.load.ok + concurrency as u64;
    let fivexx = server_errors(&measured.load);
    let mut ratio = None;
    if let Some((backlog, drained)) = drain(target).await? {
        rows.push((
            "audit outbox",
            format!(
                "{backlog} events unsealed at the end; sealed {:.2} s later",
                drained.as_secs_f64()
            ),
        ));
        let server = target.started()?;
        let org: Uuid = practice.org.id.parse()?;
        let (calendar, ledger) =
            verify(server, org, i64::try_from(granted)?, "after the HTTP load").await?;
        rows.push(("calendar (HTTP)", calendar.text()));
        rows.push(("ledger (HTTP)", ledger.text()));
        json["calendar"] = calendar.to_json();
        json["ledger"] = ledger.to_json();
        if let Some(dir) = &args.pgbench.pgbench {
            let first = next.load(Ordering::Relaxed);
            let (pg_rows, pg_json, tps) =
                compare(target, &practice, args, dir, first, granted).await?;
            rows.extend(pg_rows);
            json["pgbench"] = pg_json;
            ratio = Some(100.0 * measured.load.ok_per_sec() / tps.max(1e-9));
        }
    }
    let mut targets = vec![];
    match ratio {
        Some(r) => {
            rows.push(("vs pgbench", format!("{r:.1}% of pgbench's TPS")));
            targets.push(format!(
                "≥ {BOOK_TARGET_OF_PGBENCH:.0}% of pgbench: {}",
                verdict(r >= BOOK_TARGET_OF_PGBENCH)
            ));
        }
        None => targets.push(format!(
            "≥ {BOOK_TARGET_OF_PGBENCH:.0}% of pgbench: not measured (--pgbench)"
        )),
    }
    targets.push(if target.started().is_ok() {
        "zero overlapping appointments: met (checked in SQL)".to_owned()
    } else {
        "zero overlapping appointments: not checked (only with --start)".to_owned()
    });
    targets.push(format!(
        "no deadlock or serialization error reaches a client: {} ({fivexx} × 5xx)",
        verdict(fivexx == 0)
    ));
    rows.push(("SPEC §10 target", targets.join("; ")));
    json["percentOfPgbench"] = json!(ratio);
    json["serverErrors"] = json!(fivexx);
    Ok(Report {
        rows: labelled(rows),
        json,
    })
}

/// pgbench on `bench/pgbench/book.sql`: the same clinicians, patients and authorizations, at
/// slots after the HTTP load's (`first` on), with Haven's pool size in clients; then the
/// calendar and the ledger again.
async fn compare(
    target: &Target,
    practice: &Practice,
    args: &BookArgs,
    dir: &Path,
    first: u64,
    granted: u64,
) -> anyhow::Result<(Vec<(&'static str, String)>, Value, f64)> {
    let server = target.started()?;
    let (clients, why) = args.pgbench.clients(target.pool);
    let array = |ids: &[String]| format!("{{{}}}", ids.join(","));
    let vars = vec![
        ("org".to_owned(), practice.org.id.clone()),
        ("user".to_owned(), practice.scheduler_id.clone()),
        ("clinician_ids".to_owned(), array(&practice.clinicians)),
        ("patient_ids".to_owned(), array(&practice.patients)),
        (
            "authorization_ids".to_owned(),
            array(&practice.authorizations),
        ),
        (
            "clinicians".to_owned(),
            practice.clinicians.len().to_string(),
        ),
        ("patients".to_owned(), practice.patients.len().to_string()),
        ("first".to_owned(), first.to_string()),
        ("clients".to_owned(), clients.to_string()),
        ("k".to_owned(), "0".to_owned()),
        (
            "epoch0".to_owned(),
            (practice.first_day * 86_400).to_string(),
        ),
        ("ip".to_owned(), "127.0.0.1".to_owned()),
        ("rid".to_owned(), Uuid::now_v7().to_string()),
    ];
    let mut run = Pgbench {
        script: dir.join("book.sql"),
        clients,
        threads: args.pgbench.pgbench_threads,
        duration: args.load.duration,
        vars,
    }
    .run(target)
    .await?;
    let org: Uuid = practice.org.id.parse()?;
    let expected = i64::try_from(granted + run.transactions)?;
    let (calendar, ledger) = verify(server, org, expected, "after pgbench").await?;
    let summary = run.latencies.summary();
    let rows = vec![
        (
            "pgbench",
            format!(
                "{:.1} transactions/s ({} transactions, {} failed), {clients} clients ({why}), \
                 same duration",
                run.tps, run.transactions, run.failed
            ),
        ),
        ("pgbench latency", latency_text(summary)),
        (
            "pgbench cpu",
            cpu_text(&run.cpu, run.elapsed, run.transactions, "tx"),
        ),
        ("calendar (after pgbench)", calendar.text()),
        ("ledger (after pgbench)", ledger.text()),
        ("pgbench command", run.command.clone()),
    ];
    let mut json = run.summary_json();
    json["calendar"] = calendar.to_json();
    json["ledger"] = ledger.to_json();
    json["clients"] = json!(clients);
    Ok((rows, json, run.tps))
}

/// `book-series`: one weekly series of `--occurrences` with units per request.
pub async fn book_series(target: &Target, args: &BookSeriesArgs) -> anyhow::Result<Report> {
    let practice = Arc::new(Practice::seed(target, &args.practice, true).await?);
    let concurrency = usize::from(args.load.concurrency);
    let api = Api::new(target.api.base())?;
    let token: Arc<str> = Arc::from(practice.scheduler_token.as_str());
    let next = Arc::new(AtomicU64::new(0));
    let occurrences = args.occurrences;
    let request = {
        let practice = Arc::clone(&practice);
        move |_client: usize| {
            let (api, token) = (api.clone(), Arc::clone(&token));
            let body = practice.series(next.fetch_add(1, Ordering::Relaxed), occurrences);
            let body = Bytes::from(body.to_string());
            async move { Ok(api.post_raw(SERIES, body, Some(&token)).await?.status) }
        }
    };
    warm_up(concurrency, &request).await?;
    let mut measured = measure(target, &args.load, request).await?;
    let description = format!(
        "book-series: SCHEDULER, POST /api/appointment-series (weekly, {occurrences} \
         occurrences of 60 min, 97153, authorizationId: units for all reserved at once, \
         onConflict reject) over {} clinicians and {} patients, each series at its own free \
         weekday and hour",
        practice.clinicians.len(),
        practice.patients.len()
    );
    let (mut rows, mut json) = common(
        target,
        &args.load,
        &mut measured,
        "book-series",
        description,
        ("series", "series"),
    );
    let series = measured.load.ok + concurrency as u64;
    rows.push((
        "appointments",
        format!(
            "{:.1} appointments/s booked within series",
            measured.load.ok_per_sec() * f64::from(occurrences)
        ),
    ));
    if let Some((backlog, drained)) = drain(target).await? {
        rows.push((
            "audit outbox",
            format!(
                "{backlog} events unsealed at the end; sealed {:.2} s later",
                drained.as_secs_f64()
            ),
        ));
        let server = target.started()?;
        let org: Uuid = practice.org.id.parse()?;
        let granted = i64::try_from(series)? * i64::from(occurrences);
        let (calendar, ledger) = verify(server, org, granted, "after the HTTP load").await?;
        rows.push(("calendar", calendar.text()));
        rows.push(("ledger", ledger.text()));
        json["calendar"] = calendar.to_json();
        json["ledger"] = ledger.to_json();
    }
    let p99 = measured.load.latencies.summary().p99;
    rows.push((
        "SPEC §10 target",
        format!(
            "p99 < 100 ms at 8 clients: {}{}",
            verdict(p99.is_some_and(|p| p < SERIES_TARGET_P99)),
            if args.load.concurrency == 8 {
                ""
            } else {
                " (this run had another number of clients)"
            }
        ),
    ));
    json["occurrences"] = json!(occurrences);
    Ok(Report {
        rows: labelled(rows),
        json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_hours_of_working_days() {
        // Day 20,779 is 2026-11-22.
        assert_eq!(rfc3339(slot_start(20_779, 0)), "2026-11-22T08:00:00Z");
        assert_eq!(rfc3339(slot_start(20_779, 8)), "2026-11-22T16:00:00Z");
        assert_eq!(rfc3339(slot_start(20_779, 9)), "2026-11-23T08:00:00Z");
        assert_eq!(weekday(0), "TH");
        assert_eq!(weekday(20_779), "SU");
    }
}
