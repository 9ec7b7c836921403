//! The slot finder's plan on a large calendar: 300,000 appointments of 50 clinicians over two
//! years (past ones fulfilled, future ones booked), as the runtime role with row-level security
//! on. The busy time of the searched clinicians comes from indexes bounded by the search's time
//! (appointments: the B-tree on clinician and start; blocks: the partial B-tree of active
//! blocks), never from a scan of the table or of all of a clinician's entries.

use haven::store::slots::FIND;
use haven_testkit::TestApp;
use serde_json::Value;

use super::statements::clinicians;

/// Every node of a JSON plan, depth first.
fn nodes(plan: &Value, out: &mut Vec<Value>) {
    out.push(plan.clone());
    if let Some(children) = plan.get("Plans").and_then(Value::as_array) {
        for child in children {
            nodes(child, out);
        }
    }
}

#[tokio::test]
async fn the_busy_time_comes_from_indexes_on_300k_appointments() {
    let app = TestApp::new().await;
    let org = app.db().create_organization("Practice A").await;
    let ids = clinicians(&app, org, 50).await;

    // Set-up as the owner (not the subject): 60 patients (placeholder ciphertexts; nothing here
    // decrypts them) and 8 hourly appointments a day for each clinician from 2026-01-01 on, the
    // patient rotating so that no patient is in two places at once.
    let owner = app.db().owner_pool().await;
    sqlx::query(
        "INSERT INTO patients (organization_id, id, first_name, last_name, date_of_birth, \
             medical_record_number, mrn_index, last_name_index) \
         SELECT $1, gen_random_uuid(), '\\x00', '\\x00', '\\x00', '\\x00', \
                sha256(('mrn' || i)::bytea), sha256(('name' || i)::bytea) \
         FROM generate_series(1, 60) i",
    )
    .bind(org)
    .execute(&owner)
    .await
    .expect("patients");
    sqlx::query(
        "WITH c AS (SELECT c, n - 1 AS ci FROM unnest($2::uuid[]) WITH ORDINALITY AS t(c, n)), \
              p AS (SELECT array_agg(id ORDER BY id) AS ids FROM patients WHERE organization_id = $1), \
              slot AS (SELECT i, timestamptz '2026-01-01 09:00:00+00' + (i / 8) * interval '1 day' \
                                 + (i % 8) * interval '1 hour' AS start_at \
                       FROM generate_series(0, 5999) i) \
         INSERT INTO calendar_entries (organization_id, id, kind, clinician_id, patient_id, \
             service_code, start_at, end_at, busy_until, status) \
         SELECT $1, gen_random_uuid(), 'APPOINTMENT', c.c, p.ids[1 + (c.ci + slot.i) % 60], '97153', \
                slot.start_at, slot.start_at + interval '1 hour', slot.start_at + interval '1 hour', \
                CASE WHEN slot.start_at < '2027-01-01' THEN 'FULFILLED' ELSE 'BOOKED' END \
         FROM c CROSS JOIN p CROSS JOIN slot",
    )
    .bind(org)
    .bind(&ids)
    .execute(&owner)
    .await
    .expect("appointments");
    sqlx::query("ANALYZE calendar_entries")
        .execute(&owner)
        .await
        .expect("analyze");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM calendar_entries")
        .fetch_one(&owner)
        .await
        .expect("count");
    owner.close().await;
    assert_eq!(count, 300_000);

    // The statement Haven runs, with a search of 5 of the clinicians over a week, as the runtime
    // role in the tenant's transaction (row-level security on).
    let mut tx = app.state().db().begin_tenant(org, None).await.expect("tx");
    let explain = format!("EXPLAIN (FORMAT JSON) {FIND}");
    let (plan,): (Value,) = sqlx::query_as(sqlx::AssertSqlSafe(explain))
        .bind(org)
        .bind(&ids[..5])
        .bind(None::<String>)
        .bind(
            "2027-03-15T00:00:00Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .expect("from"),
        )
        .bind(
            "2027-03-22T00:00:00Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .expect("to"),
        )
        .bind(60_i32)
        .bind(15_i32)
        .bind(100_i64)
        .fetch_one(tx.conn())
        .await
        .expect("explain");
    tx.rollback().await.expect("rollback");

    let mut all = Vec::new();
    nodes(&plan[0]["Plan"], &mut all);
    let seq_scans: Vec<&Value> = all
        .iter()
        .filter(|n| {
            n.get("Node Type").and_then(Value::as_str) == Some("Seq Scan")
                && n.get("Relation Name").and_then(Value::as_str) == Some("calendar_entries")
        })
        .collect();
    assert!(seq_scans.is_empty(), "no scan of 300,000 rows: {plan}");
    let scan_of = |index: &str| {
        all.iter()
            .find(|n| n.get("Index Name").and_then(Value::as_str) == Some(index))
            .cloned()
    };
    // The appointments: bounded by the search's time in the index itself, not filtered after
    // reading every entry of the clinician (row-level security lets only leakproof conditions
    // into an index scan).
    let appointments = scan_of("calendar_entries_clinician_start")
        .unwrap_or_else(|| panic!("appointments come from the clinician/start B-tree: {plan}"));
    let condition = appointments["Index Cond"].as_str().unwrap_or_default();
    assert!(
        condition.contains("start_at >=") && condition.contains("start_at <"),
        "the time bounds are index conditions: {condition}"
    );
    assert!(
        scan_of("calendar_entries_active_blocks").is_some(),
        "blocks come from the index of active blocks: {plan}"
    );
    assert!(
        scan_of("calendar_entries_clinician_no_overlap").is_none(),
        "not the exclusion constraint's GiST index, bounded by the clinician alone: {plan}"
    );
    // Haven's connections have JIT off: compiling this statement took longer than running it.
    assert!(plan[0].get("JIT").is_none(), "no JIT: {plan}");
}
