//! Waitlist measurements for BENCHMARKS.md (a benchmark, not a test; SPEC §10 "measure"):
//!
//! 1. ranked entries for one freed slot (`GET /api/waitlist/matches-for-slot`) over 50,000
//!    waiting entries (four services, a third with preferred days, a third with a local window,
//!    a fifth preferring one of the 50 clinicians);
//! 2. free slots for one entry without preferences (`GET /api/waitlist/{id}/matches`) over 50
//!    clinicians × 31 days;
//! 3. the offer sweeper (`haven::scheduling::offers::sweep_organization`) releasing 10,000
//!    expired offers, each a HELD appointment holding 4 units of its own authorization.
//!
//! Requests go through the real router in process (`haven-testkit`: JWT, RLS, the audit row of
//! each read), one at a time; latencies are exact nearest-rank percentiles. The database is the
//! test harness's private PostgreSQL cluster under `/dev/shm`.
//!
//! ```sh
//! cargo run --release -p haven --example waitlist_bench        # or without --release
//! ```

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven::ids::{OrganizationId, UserId};
use haven::scheduling::offers;
use haven::store::waitlist::{self, Slot};
use haven_testkit::{TestApp, TestUser};
use serde_json::json;
use sqlx::Connection as _;

const ENTRIES: i64 = 50_000;
const CLINICIANS: usize = 50;
const OFFERS: i64 = 10_000;
const SLOT_REQUESTS: usize = 300;
const ENTRY_REQUESTS: usize = 100;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort_unstable();
    format!(
        "n {}  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        times.len(),
        percentile(&times, 50.0).as_secs_f64() * 1000.0,
        percentile(&times, 99.0).as_secs_f64() * 1000.0,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    )
}

async fn owner(app: &TestApp) -> sqlx::PgConnection {
    sqlx::PgConnection::connect_with(&app.db().owner_options())
        .await
        .expect("owner connection")
}

/// 50 clinicians available Monday to Friday 09:00–17:00 New York time.
async fn clinicians(app: &TestApp, org: OrganizationId) -> Vec<UserId> {
    let mut ids = Vec::new();
    for i in 0..CLINICIANS {
        let email = format!("bench-{i}-{}@example.org", uuid::Uuid::new_v4().simple());
        ids.push(app.db().create_user(org, Role::Clinician, &email).await);
    }
    let mut db = owner(app).await;
    sqlx::query(
        "WITH a AS (INSERT INTO clinician_availability (organization_id, clinician_id, time_zone, \
             buffer_minutes, effective_from) \
             SELECT $1, c, 'America/New_York', 0, '2027-01-01' FROM unnest($2::uuid[]) c RETURNING clinician_id) \
         INSERT INTO availability_rules (organization_id, id, clinician_id, day_of_week, start_time, end_time) \
         SELECT $1, gen_random_uuid(), a.clinician_id, d, '09:00', '17:00' FROM a, generate_series(1, 5) d",
    )
    .bind(org)
    .bind(&ids)
    .execute(&mut db)
    .await
    .expect("availability");
    ids
}

/// `ENTRIES` patients with one waiting entry each, in one statement.
async fn entries(app: &TestApp, org: OrganizationId, clinicians: &[UserId]) {
    let mut db = owner(app).await;
    sqlx::query(
        "WITH p AS ( \
             INSERT INTO patients (organization_id, id, first_name, last_name, date_of_birth, \
                 medical_record_number, mrn_index, last_name_index) \
             SELECT $1, gen_random_uuid(), '\\x00', '\\x00', '\\x00', '\\x00', \
                    sha256(convert_to('bench-mrn-' || g, 'UTF8')), sha256(convert_to('bench-ln-' || g, 'UTF8')) \
             FROM generate_series(1, $2::int) g RETURNING id), \
         n AS (SELECT id, row_number() OVER () AS g FROM p) \
         INSERT INTO waitlist_entries (organization_id, id, patient_id, service_code, priority, \
             clinician_ids, preferred_days, window_starts, window_ends, waiting_since, expires_at) \
         SELECT $1, gen_random_uuid(), n.id, \
                (ARRAY['97153', '97155', '90837', '90834'])[1 + n.g % 4], \
                CASE WHEN n.g % 10 = 0 THEN 'URGENT' ELSE 'ROUTINE' END, \
                CASE WHEN n.g % 5 = 0 THEN ARRAY[($3::uuid[])[1 + n.g % cardinality($3::uuid[])]] ELSE '{}' END, \
                CASE WHEN n.g % 3 = 0 THEN '{1,3,5}'::smallint[] ELSE '{}' END, \
                CASE WHEN n.g % 3 = 1 THEN '{15:00}'::time[] ELSE '{}' END, \
                CASE WHEN n.g % 3 = 1 THEN '{18:00}'::time[] ELSE '{}' END, \
                now() - make_interval(mins => (n.g * 7919 % 115200)::int), \
                now() + interval '60 days' \
         FROM n",
    )
    .bind(org)
    .bind(ENTRIES)
    .bind(clinicians)
    .execute(&mut db)
    .await
    .expect("entries");
    sqlx::query("VACUUM ANALYZE waitlist_entries")
        .execute(&mut db)
        .await
        .expect("analyze");
}

/// `OFFERS` pending offers past their expiry, each with its HELD appointment, its session
/// reserving 4 units of the patient's own authorization, the RESERVE ledger row and
/// `used_units` (the ledger invariant holds before).
async fn expired_offers(app: &TestApp, org: OrganizationId, clinicians: &[UserId]) {
    let mut db = owner(app).await;
    let statements = [
        "CREATE TEMP TABLE picked AS \
         SELECT id AS entry_id, patient_id, row_number() OVER (ORDER BY id) AS g \
         FROM waitlist_entries WHERE organization_id = $1 AND service_code = '97153' LIMIT $2",
        "INSERT INTO authorizations (organization_id, id, patient_id, payer_name, service_code, \
             unit_minutes, total_units, used_units, start_date, end_date, low_units_threshold) \
         SELECT $1, md5('a' || entry_id)::uuid, patient_id, 'Bench Health Plan', '97153', 15, 100, 4, \
             '2027-01-01', '2027-12-31', 10 FROM picked",
        "INSERT INTO therapy_sessions (organization_id, id, authorization_id, patient_id, clinician_id, \
             start_time, reserved_units, unit_minutes) \
         SELECT $1, md5('s' || entry_id)::uuid, md5('a' || entry_id)::uuid, patient_id, \
             ($3::uuid[])[1 + g % cardinality($3::uuid[])], \
             '2027-03-15 13:00+00'::timestamptz + make_interval(hours => (g / cardinality($3::uuid[]))::int), 4, 15 \
         FROM picked",
        "INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, reason) \
         SELECT $1, md5('a' || entry_id)::uuid, md5('s' || entry_id)::uuid, 'RESERVE', 4, 'session reserved' \
         FROM picked",
        "INSERT INTO calendar_entries (organization_id, id, kind, clinician_id, patient_id, service_code, \
             start_at, end_at, busy_until, status, hold_expires_at, authorization_id, session_id) \
         SELECT $1, md5('c' || p.entry_id)::uuid, 'APPOINTMENT', s.clinician_id, p.patient_id, '97153', \
             s.start_time, s.start_time + interval '1 hour', s.start_time + interval '1 hour', 'HELD', \
             now() - interval '1 minute', s.authorization_id, s.id \
         FROM picked p JOIN therapy_sessions s ON s.organization_id = $1 AND s.id = md5('s' || p.entry_id)::uuid",
        "INSERT INTO waitlist_offers (organization_id, id, entry_id, patient_id, appointment_id, \
             clinician_id, start_at, end_at, expires_at, created_at) \
         SELECT $1, md5('o' || p.entry_id)::uuid, p.entry_id, p.patient_id, c.id, c.clinician_id, \
             c.start_at, c.end_at, now() - interval '1 minute', now() - interval '2 hours' \
         FROM picked p JOIN calendar_entries c ON c.organization_id = $1 AND c.id = md5('c' || p.entry_id)::uuid",
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org)
            .bind(OFFERS)
            .bind(clinicians)
            .execute(&mut db)
            .await
            .unwrap_or_else(|e| panic!("seeding offers: {e}\n{sql}"));
    }
    for table in [
        "authorizations",
        "therapy_sessions",
        "unit_ledger",
        "calendar_entries",
        "waitlist_offers",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
            .execute(&mut db)
            .await
            .expect("analyze");
    }
}

async fn timed_get(app: &TestApp, user: &TestUser, path: &str) -> (Duration, serde_json::Value) {
    let started = Instant::now();
    let response = app.get_as(user, path).await;
    let took = started.elapsed();
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    (took, response.json())
}

#[tokio::main]
async fn main() {
    let app = TestApp::new().await;
    let admin = app.org_with("Bench practice", Role::Admin).await;
    let org = admin.organization_id;
    let scheduler = app.user_in(org, Role::Scheduler).await;
    let set = app
        .json_as(
            &admin,
            Method::PATCH,
            "/api/organization/settings",
            &json!({ "timeZone": "America/New_York" }),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK);

    let seeding = Instant::now();
    let clinicians = clinicians(&app, org).await;
    entries(&app, org, &clinicians).await;
    println!(
        "seeded {ENTRIES} entries and {CLINICIANS} clinicians in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let mut tx = app.state().db().begin_tenant(org, None).await.expect("tx");
    let start: chrono::DateTime<chrono::Utc> = "2027-03-15T17:00:00Z".parse().expect("start");
    let plan = waitlist::explain_rank_for_slot(
        &mut tx,
        &Slot {
            clinician_id: clinicians[0],
            start,
            end: start + chrono::Duration::minutes(60),
            service_code: "97153".to_owned(),
        },
        20,
        true,
    )
    .await
    .expect("explain");
    tx.rollback().await.expect("rollback");
    if std::env::var_os("PLAN").is_some() {
        println!("{plan:#}");
    }
    println!(
        "ranking statement alone (EXPLAIN ANALYZE): {} ms",
        plan[0]["Execution Time"]
    );

    // 1. One freed slot, 300 different ones (clinician, weekday, hour), one request each.
    let mut times = Vec::new();
    let mut ranked = 0;
    for i in 0..SLOT_REQUESTS {
        let clinician = clinicians[i % CLINICIANS];
        let day = 15 + (i / CLINICIANS) % 5;
        let hour = 13 + (i % 8);
        let path = format!(
            "/api/waitlist/matches-for-slot?clinicianId={clinician}&start=2027-03-{day:02}T{hour:02}:00:00Z\
             &durationMinutes=60&serviceCode=97153&limit=20"
        );
        let (took, body) = timed_get(&app, &scheduler, &path).await;
        ranked += body["waitlistEntries"].as_array().map_or(0, Vec::len);
        times.push(took);
    }
    println!(
        "matches-for-slot over {ENTRIES} entries: {}  ({} entries ranked per answer on average)",
        summary(times),
        ranked / SLOT_REQUESTS
    );

    // 2. One entry without preferences over 50 clinicians × 31 days.
    let patient = app
        .json_as(
            &admin,
            Method::POST,
            "/api/patients",
            &json!({ "firstName": "Robin", "lastName": "Okafor", "dateOfBirth": "2017-05-02",
                     "medicalRecordNumber": "BENCH-ENTRY" }),
        )
        .await
        .json()["patient"]["id"]
        .as_str()
        .expect("patient")
        .to_owned();
    let entry = app
        .json_as(
            &admin,
            Method::POST,
            "/api/waitlist",
            &json!({ "patientId": patient, "serviceCode": "97153" }),
        )
        .await
        .json()["waitlistEntry"]["id"]
        .as_str()
        .expect("entry")
        .to_owned();
    let mut times = Vec::new();
    let mut found = 0;
    for _ in 0..ENTRY_REQUESTS {
        let path = format!(
            "/api/waitlist/{entry}/matches?from=2027-03-01T05:00:00Z&to=2027-04-01T04:00:00Z\
             &durationMinutes=60&granularityMinutes=15&limit=1000"
        );
        let (took, body) = timed_get(&app, &scheduler, &path).await;
        found = body["slots"].as_array().map_or(0, Vec::len);
        times.push(took);
    }
    println!(
        "matches for one entry, {CLINICIANS} clinicians × 31 days: {}  ({found} slots per answer, limit 1000)",
        summary(times)
    );

    // 3. The sweeper over 10,000 expired offers.
    let seeding = Instant::now();
    expired_offers(&app, org, &clinicians).await;
    println!(
        "seeded {OFFERS} expired offers in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    if std::env::var_os("PLAN").is_some() {
        let mut tx = app.state().db().begin_tenant(org, None).await.expect("tx");
        let plan = haven::store::waitlist_offers::explain_expire(&mut tx)
            .await
            .expect("explain");
        tx.rollback().await.expect("rollback");
        println!("SWEEP PLAN {plan}");
    }
    let started = Instant::now();
    let (swept, _) = offers::sweep_organization(app.state().db(), org)
        .await
        .expect("sweep")
        .expect("not locked");
    let took = started.elapsed();
    let mut db = owner(&app).await;
    let (releases, audits, used): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM unit_ledger WHERE organization_id = $1 AND kind = 'RELEASE'), \
                (SELECT count(*) FROM audit_outbox WHERE organization_id = $1 AND action = 'WAITLIST_OFFER_EXPIRED') \
              + (SELECT count(*) FROM audit_log WHERE organization_id = $1 AND action = 'WAITLIST_OFFER_EXPIRED'), \
                (SELECT coalesce(sum(used_units), 0)::bigint FROM authorizations WHERE organization_id = $1)",
    )
    .bind(org)
    .fetch_one(&mut db)
    .await
    .expect("check");
    println!(
        "sweeper, {OFFERS} expired offers: {:.3} s  ({} offers, {} units released; {releases} RELEASE ledger rows, {audits} WAITLIST_OFFER_EXPIRED audit rows, {used} units still used)",
        took.as_secs_f64(),
        swept.offers,
        swept.units
    );
}
