//! Stale reservations beyond the endpoint (`routes/maintenance`): the background job releases
//! them once even beside a request, and the statement is fast on a large table (the partial
//! index of open sessions).

use std::time::Duration;

use haven::store::sessions_units::RELEASE_STALE;
use haven::units::cleanup;
use haven_testkit::TestApp;

use crate::fixtures::maintenance::clean;
use crate::fixtures::units::{
    assert_ledger_balanced, audited, authorization, ledger_rows, practice, session_at,
};

#[tokio::test]
async fn the_background_job_releases_stale_reservations_once_even_beside_a_request() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let auth = authorization(&app, &p.admin, &p.patient, 20).await;
    for _ in 0..5 {
        session_at(&app, &p.admin, &auth, 1, -240).await;
    }

    let job = cleanup::spawn(app.state().db().clone(), Duration::from_millis(100), 60);
    let (_, by_request) = clean(&app, &p.admin, "").await;
    let mut released = 0;
    for _ in 0..50 {
        released = ledger_rows(&app, &auth)
            .await
            .iter()
            .filter(|(k, _)| k == "STALE_RELEASE")
            .count();
        if released == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    job.abort();

    assert_eq!(released, 5);
    assert_eq!(
        ledger_rows(&app, &auth).await.len(),
        10,
        "five reserved, five released, no more"
    );
    let events = audited(&app, p.admin.organization_id, "STALE_RESERVATION_RELEASED").await;
    assert_eq!(events.len(), 5);
    let by_job = events
        .iter()
        .filter(|d| d["trigger"] == "background")
        .count();
    assert_eq!(
        by_job,
        5 - usize::try_from(by_request["sessionsCleaned"].as_i64().expect("n")).expect("n")
    );
    assert_ledger_balanced(&app, p.admin.organization_id).await;
}

#[tokio::test]
async fn the_cleanup_statement_uses_the_partial_index_on_a_large_table() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let org = p.admin.organization_id;
    let auth = authorization(&app, &p.admin, &p.patient, 10).await;
    let owner = app.db().owner_pool().await;
    sqlx::query(
        "INSERT INTO therapy_sessions (organization_id, id, authorization_id, patient_id, start_time, \
             reserved_units, unit_minutes, actual_units, status, completed_at) \
         SELECT $1, gen_random_uuid(), $2::uuid, $3::uuid, now() - make_interval(mins => g), 1, 15, \
                CASE WHEN g % 1000 = 0 THEN NULL ELSE 1 END, \
                CASE WHEN g % 1000 = 0 THEN 'SCHEDULED' ELSE 'COMPLETED' END, now() \
         FROM generate_series(1, 120000) g",
    )
    .bind(org)
    .bind(&auth)
    .bind(&p.patient)
    .execute(&owner)
    .await
    .expect("120,000 sessions");
    sqlx::query("ANALYZE therapy_sessions")
        .execute(&owner)
        .await
        .expect("analyze");
    owner.close().await;

    let mut tx = app.state().db().begin_tenant(org, None).await.expect("tx");
    let plan: Vec<String> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {RELEASE_STALE}")))
            .bind(org)
            .bind(60_i32)
            .bind(None::<uuid::Uuid>)
            .bind(None::<&str>)
            .bind(None::<&str>)
            .bind("test")
            .fetch_all(tx.conn())
            .await
            .expect("explain");
    tx.rollback().await.expect("rollback");

    let plan = plan.join("\n");
    assert!(plan.contains("therapy_sessions_open_start"), "{plan}");
    assert!(!plan.contains("Seq Scan on therapy_sessions"), "{plan}");
}
