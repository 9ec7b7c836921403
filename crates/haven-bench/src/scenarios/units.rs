//! Unit reservations (SPEC §10): an ADMIN reserves one unit per request
//! (`POST /api/sessions {authorizationId, startTime: now, expectedUnits: 1}`, 201) on seeded
//! authorizations chosen at random (`reserve`), or all on ONE hot authorization (`reserve-hot`);
//! optionally followed by the same SQL through pgbench (`bench/pgbench/reserve{,_hot}.sql`).
//! After each load the ledger invariant is checked with `haven_units.ledger_check()` in a tenant
//! transaction as the app role, and the run fails if it is broken or a unit is lost or
//! over-allocated.
//!
//! What one request costs Haven (`api/therapy_sessions/reserve.rs`): the RS256 token verified
//! in process and the ADMIN's MFA check (a first tenant transaction, `auth::caller`), then one
//! tenant transaction: the conditional UPDATE … RETURNING that takes the unit, the emergency
//! grant look-up (`policy::patient_access`), the session + RESERVE ledger row (one statement),
//! the SESSION_RESERVE audit row, COMMIT.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use hyper::StatusCode;
use hyper::body::Bytes;
use serde_json::{Value, json};
use sqlx::{Connection as _, PgConnection};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{Report, cpu_text, errors_text, labelled, latency_text, memory_text, verdict};
use crate::cli::{LoadArgs, PgbenchArgs, ReserveArgs, ReserveHotArgs};
use crate::cpu;
use crate::db;
use crate::http::Api;
use crate::load::{self, LoadReport};
use crate::pgbench::Pgbench;
use crate::seed::{self, Organization};
use crate::target::{self, Target};

const SESSIONS: &str = "/api/sessions";
const SEED_PARALLEL: usize = 8;
/// Units of every seeded authorization (SPEC's maximum): a 20 s run takes far fewer.
pub const TOTAL_UNITS: u32 = 100_000;
const TARGET_P99: Duration = Duration::from_millis(25);

/// `reserve`: 1 unit on a random one of `--authorizations`.
pub async fn reserve(target: &Target, args: &ReserveArgs) -> anyhow::Result<Report> {
    let setup = Setup::seed(target, args.patients, args.authorizations, TOTAL_UNITS).await?;
    run(
        target,
        &args.load,
        &args.pgbench,
        setup,
        "reserve",
        "reserve.sql",
    )
    .await
}

/// `reserve-hot`: 1 unit on ONE authorization of `--total-units`.
pub async fn reserve_hot(target: &Target, args: &ReserveHotArgs) -> anyhow::Result<Report> {
    let setup = Setup::seed(target, 1, 1, args.total_units).await?;
    run(
        target,
        &args.load,
        &args.pgbench,
        setup,
        "reserve-hot",
        "reserve_hot.sql",
    )
    .await
}

/// The seeded organization, its patients and authorizations.
struct Setup {
    org: Organization,
    patients: Vec<String>,
    authorizations: Vec<String>,
    total_units: u32,
}

impl Setup {
    async fn seed(target: &Target, patients: u32, count: u32, units: u32) -> anyhow::Result<Self> {
        let org = seed::organization(target).await?;
        let patients =
            seed::patients(&target.api, &org, 0, u64::from(patients), SEED_PARALLEL).await?;
        let authorizations = authorizations(&target.api, &org, &patients, count, units).await?;
        if let Ok(server) = target.started() {
            db::analyze(server, "authorizations").await?;
        }
        Ok(Self {
            org,
            patients,
            authorizations,
            total_units: units,
        })
    }
}

/// Creates `count` authorizations through the API (patients round-robin: authorization `n` is
/// patient `n % patients.len()`'s), from 30 days ago to 365 days from now.
pub(super) async fn authorizations(
    api: &Api,
    org: &Organization,
    patients: &[String],
    count: u32,
    units: u32,
) -> anyhow::Result<Vec<String>> {
    let today = days_now();
    let mut ids = vec![String::new(); count as usize];
    let mut running = JoinSet::new();
    let mut next = 0usize;
    while next < ids.len() || !running.is_empty() {
        while next < ids.len() && running.len() < SEED_PARALLEL {
            let body = json!({
                "patientId": patients[next % patients.len()],
                "payerName": "Bench Health Plan",
                "serviceCode": "97153",
                "totalUnits": units,
                "startDate": date(today - 30),
                "endDate": date(today + 365),
            });
            let (api, token, n) = (api.clone(), org.admin_token.clone(), next);
            running.spawn(async move {
                let answer = api.post("/api/authorizations", &body, Some(&token)).await?;
                let json = answer.json(StatusCode::CREATED, "creating an authorization")?;
                let id = json["authorization"]["id"].as_str().map(str::to_owned);
                anyhow::Ok((n, id.context("the new authorization has no id")?))
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

async fn run(
    target: &Target,
    load: &LoadArgs,
    pg: &PgbenchArgs,
    setup: Setup,
    name: &'static str,
    script: &str,
) -> anyhow::Result<Report> {
    let concurrency = usize::from(load.concurrency);
    let bodies: Arc<Vec<String>> = Arc::new(setup.authorizations.clone());
    let api = Api::new(target.api.base())?;
    let token: Arc<str> = Arc::from(setup.org.admin_token.as_str());
    let draws = Arc::new(AtomicU64::new(clock_seed()));
    let request = move |_client: usize| {
        let (api, token) = (api.clone(), Arc::clone(&token));
        let pick = splitmix64(draws.fetch_add(1, Ordering::Relaxed)) % bodies.len() as u64;
        let body = json!({
            "authorizationId": bodies[pick as usize],
            "startTime": rfc3339_now(),
            "expectedUnits": 1,
        });
        let body = Bytes::from(body.to_string());
        async move { Ok(api.post_raw(SESSIONS, body, Some(&token)).await?.status) }
    };
    // One reservation per client at once: checks the request and opens the connections.
    let mut warm = JoinSet::new();
    for client in 0..concurrency {
        warm.spawn(request(client));
    }
    while let Some(status) = warm.join_next().await {
        let status = status??;
        anyhow::ensure!(
            status == StatusCode::CREATED,
            "warm-up reservation: {status}"
        );
    }
    let (cpu_before, started) = (target.cpu_snapshot(), Instant::now());
    let mut measured = load::drive(load, StatusCode::CREATED, request).await?;
    let cpu = cpu::Usage::between(cpu_before, target.cpu_snapshot(), started.elapsed());
    let (idle, after) = (target.idle_memory(), target.memory());
    let hot = name == "reserve-hot";
    // 409s are expected only when the hot authorization runs out.
    let refused: u64 = ["409"].iter().filter_map(|k| measured.errors.get(*k)).sum();
    let granted = measured.ok + concurrency as u64;
    let mut rows: Vec<(&str, String)> = vec![
        (
            "scenario",
            format!(
                "{name}: ADMIN, POST /api/sessions {{expectedUnits: 1, startTime: now}} on {} \
             authorization(s) of {} units ({} patients){}",
                setup.authorizations.len(),
                setup.total_units,
                setup.patients.len(),
                if hot {
                    ", all clients on the same row"
                } else {
                    ", chosen at random"
                }
            ),
        ),
        (
            "target",
            format!("{} ({})", target.api.base(), target.database()),
        ),
        (
            "concurrency",
            format!("{}, one ADMIN token", load::mode_text(load, "reservations")),
        ),
        (
            "duration",
            format!(
                "{:?} requested, {:.2} s elapsed",
                load.duration,
                measured.elapsed.as_secs_f64()
            ),
        ),
        (
            "requests",
            format!(
                "{} ({} × 201; errors: {}) + {} warm-up 201s",
                measured.requests,
                measured.ok,
                errors_text(&measured.errors),
                concurrency
            ),
        ),
        (
            "throughput",
            format!("{:.1} reservations/s", measured.ok_per_sec()),
        ),
        ("latency", latency_text(measured.latencies.summary())),
        ("memory", memory_text(idle, after)),
        (
            "cpu during load",
            cpu_text(&cpu, measured.elapsed, measured.ok, "reservation"),
        ),
    ];
    let mut json = json!({
        "scenario": name,
        "target": target.to_json(),
        "concurrency": load.concurrency,
        "rate": load.rate,
        "authorizations": setup.authorizations.len(),
        "totalUnitsEach": setup.total_units,
        "elapsedSecs": measured.elapsed.as_secs_f64(),
        "requests": measured.requests,
        "ok": measured.ok,
        "warmUp": concurrency,
        "errors": measured.errors,
        "okPerSec": measured.ok_per_sec(),
        "latency": measured.latencies.summary().to_json(),
        "memory": target::memory_json(idle, after),
        "cpu": cpu.to_json(),
    });
    let mut ratio = None;
    if let Ok(server) = target.started() {
        let mut owner = db::owner(server).await?;
        let backlog = db::outbox_backlog(&mut owner).await?;
        let drained = db::wait_for_empty_outbox(
            &mut owner,
            Duration::from_millis(100),
            Duration::from_secs(600),
        )
        .await?;
        owner.close().await?;
        rows.push((
            "audit outbox",
            format!(
                "{backlog} events unsealed at the end; sealed {:.2} s later",
                drained.as_secs_f64()
            ),
        ));
        let org: Uuid = setup.org.id.parse()?;
        let ledger = Ledger::check(
            server,
            org,
            hot.then(|| setup.authorizations[0].parse()).transpose()?,
        )
        .await?;
        rows.push(("ledger (HTTP)", ledger.text()));
        json["ledger"] = ledger.to_json();
        anyhow::ensure!(
            ledger.inconsistent == 0,
            "LEDGER INVARIANT BROKEN: {}",
            ledger.text()
        );
        anyhow::ensure!(
            ledger.used == i64::try_from(granted)?
                && ledger.ledger == ledger.used
                && ledger.held == ledger.used,
            "LOST OR EXTRA UNITS: {granted} reservations answered 201 but {}",
            ledger.text()
        );
        if let Some(dir) = &pg.pgbench {
            let (pg_rows, pg_json, tps) =
                compare(target, &setup, &measured, load, pg, dir, script, hot).await?;
            rows.extend(pg_rows);
            json["pgbench"] = pg_json;
            ratio = Some(100.0 * measured.ok_per_sec() / tps.max(1e-9));
        }
    }
    let p99 = measured.latencies.summary().p99;
    let (target_ratio, mut targets) = if hot {
        (50.0, vec![])
    } else {
        (
            70.0,
            vec![format!(
                "p99 < 25 ms: {}",
                verdict(p99.is_some_and(|p| p < TARGET_P99))
            )],
        )
    };
    match ratio {
        Some(r) => {
            rows.push(("vs pgbench", format!("{r:.1}% of pgbench's TPS")));
            targets.push(format!(
                "≥ {target_ratio:.0}% of pgbench: {}",
                verdict(r >= target_ratio)
            ));
        }
        None => targets.push(format!(
            "≥ {target_ratio:.0}% of pgbench: not measured (--pgbench)"
        )),
    }
    if hot {
        targets.push(format!(
            "no over-allocation, no lost unit: met ({refused} × 409 as expected refusals)"
        ));
    }
    rows.push(("SPEC §10 target", targets.join("; ")));
    json["percentOfPgbench"] = json!(ratio);
    Ok(Report {
        rows: labelled(rows),
        json,
    })
}

/// pgbench on authorizations of its own (inserted as the owner with computable ids), then the
/// ledger checked again.
#[expect(clippy::too_many_arguments, reason = "one call site")]
async fn compare(
    target: &Target,
    setup: &Setup,
    http: &LoadReport,
    load: &LoadArgs,
    args: &PgbenchArgs,
    dir: &Path,
    script: &str,
    hot: bool,
) -> anyhow::Result<(Vec<(&'static str, String)>, Value, f64)> {
    let server = target.started()?;
    let org: Uuid = setup.org.id.parse()?;
    let count = setup.authorizations.len() as i32;
    let patients: Vec<Uuid> = setup
        .patients
        .iter()
        .map(|p| p.parse())
        .collect::<Result<_, _>>()?;
    let admin: Uuid = setup.org.admin_id.parse()?;
    let mut owner = db::owner(server).await?;
    insert_pgbench_authorizations(&mut owner, org, &patients, admin, count, setup.total_units)
        .await?;
    owner.close().await?;
    db::analyze(server, "authorizations").await?;
    let vars = vec![
        ("org".to_owned(), setup.org.id.clone()),
        ("user".to_owned(), setup.org.admin_id.clone()),
        ("authorizations".to_owned(), count.to_string()),
        ("day".to_owned(), date(days_now())),
        ("ip".to_owned(), "127.0.0.1".to_owned()),
        ("rid".to_owned(), Uuid::now_v7().to_string()),
    ];
    let (clients, why) = args.clients(target.pool);
    let mut run = Pgbench {
        script: dir.join(script),
        clients,
        threads: args.pgbench_threads,
        duration: load.duration,
        vars,
    }
    .run(target)
    .await?;
    let ledger = Ledger::check(server, org, hot.then_some(pgbench_id(1))).await?;
    anyhow::ensure!(
        ledger.inconsistent == 0,
        "LEDGER INVARIANT BROKEN after pgbench: {}",
        ledger.text()
    );
    let expected_pg = i64::try_from(run.transactions)?
        + if hot {
            0
        } else {
            i64::try_from(http.ok)? + i64::from(load.concurrency)
        };
    anyhow::ensure!(
        ledger.used == expected_pg && ledger.ledger == ledger.used,
        "pgbench: {} transactions, but {}",
        run.transactions,
        ledger.text()
    );
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
        ("ledger (after pgbench)", ledger.text()),
        ("pgbench command", run.command.clone()),
    ];
    let mut json = run.summary_json();
    json["ledger"] = ledger.to_json();
    Ok((rows, json, run.tps))
}

fn pgbench_id(i: u32) -> Uuid {
    Uuid::parse_str(&format!("00000000-0000-4000-8000-{i:012}")).unwrap_or_default()
}

async fn insert_pgbench_authorizations(
    conn: &mut PgConnection,
    org: Uuid,
    patients: &[Uuid],
    admin: Uuid,
    count: i32,
    units: u32,
) -> anyhow::Result<()> {
    // The same columns POST /api/authorizations writes (no member id, threshold 10%).
    sqlx::query(
        "INSERT INTO authorizations (organization_id, id, patient_id, payer_name, service_code, \
             unit_minutes, total_units, start_date, end_date, low_units_threshold, created_by) \
         SELECT $1, ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, \
             ($2::uuid[])[1 + i % cardinality($2::uuid[])], 'Bench Health Plan', '97153', 15, $3, \
             (now() AT TIME ZONE 'UTC')::date - 30, (now() AT TIME ZONE 'UTC')::date + 365, $3 / 10, $4 \
         FROM generate_series(1, $5::int) AS i",
    )
    .bind(org)
    .bind(patients)
    .bind(i32::try_from(units)?)
    .bind(admin)
    .bind(count)
    .execute(&mut *conn)
    .await
    .context("inserting pgbench's authorizations")?;
    Ok(())
}

/// `haven_units.ledger_check()` summed over the organization (or one authorization).
#[derive(Debug, Clone, Copy)]
pub struct Ledger {
    /// Authorizations checked.
    pub authorizations: i64,
    /// Those whose used units differ from their ledger or sessions.
    pub inconsistent: i64,
    /// Sum of `used_units`.
    pub used: i64,
    /// Sum of the ledger.
    pub ledger: i64,
    /// Units held by open sessions.
    pub held: i64,
    /// Units consumed by completed sessions.
    pub consumed: i64,
}

impl Ledger {
    /// Runs the check in a tenant transaction as the app role (RLS applies, as for Haven).
    pub async fn check(
        server: &crate::server::HavenProcess,
        org: Uuid,
        only: Option<Uuid>,
    ) -> anyhow::Result<Self> {
        let mut conn = PgConnection::connect_with(&db::app_options(server)).await?;
        let mut tx = conn.begin().await?;
        sqlx::query("SELECT set_config('app.current_organization_id', $1, true)")
            .bind(org.to_string())
            .execute(&mut *tx)
            .await?;
        let row: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE NOT consistent), \
                 coalesce(sum(used_units), 0)::int8, coalesce(sum(ledger_units), 0)::int8, \
                 coalesce(sum(held_units), 0)::int8, coalesce(sum(consumed_units), 0)::int8 \
             FROM haven_units.ledger_check() WHERE $1::uuid IS NULL OR authorization_id = $1",
        )
        .bind(only)
        .fetch_one(&mut *tx)
        .await
        .context("running haven_units.ledger_check()")?;
        tx.rollback().await?;
        conn.close().await?;
        let (authorizations, inconsistent, used, ledger, held, consumed) = row;
        Ok(Self {
            authorizations,
            inconsistent,
            used,
            ledger,
            held,
            consumed,
        })
    }

    /// One line for the report.
    #[must_use]
    pub fn text(&self) -> String {
        format!(
            "ledger_check(): {} authorizations, {} inconsistent; used units {} = ledger sum {} = \
             held {} + consumed {}",
            self.authorizations,
            self.inconsistent,
            self.used,
            self.ledger,
            self.held,
            self.consumed
        )
    }

    /// The same as JSON.
    #[must_use]
    pub fn to_json(self) -> Value {
        json!({ "authorizations": self.authorizations, "inconsistent": self.inconsistent,
                "usedUnits": self.used, "ledgerUnits": self.ledger, "heldUnits": self.held,
                "consumedUnits": self.consumed })
    }
}

/// Days since 1970-01-01 (UTC), now.
pub(super) fn days_now() -> i64 {
    secs_now() / 86_400
}

fn secs_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `YYYY-MM-DD` of a day number (Howard Hinnant's civil_from_days).
pub fn date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`.
pub(super) fn rfc3339_now() -> String {
    let secs = secs_now();
    let s = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(secs.div_euclid(86_400)),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(20_779), "2026-11-22");
        assert_eq!(
            pgbench_id(42).to_string(),
            "00000000-0000-4000-8000-000000000042"
        );
    }
}
