//! Stale reservations: released set-based with one ledger and one audit row each, by request
//! (ADMIN: own practice; SUPER_ADMIN: every practice), by the background job, and fast on a
//! large table (the partial index of open sessions).

use std::time::Duration;

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven::ids::OrganizationId;
use haven::store::sessions_units::RELEASE_STALE;
use haven::units::cleanup;
use haven_testkit::{TestApp, TestUser};
use serde_json::{Value, json};

use crate::units_fixtures::{
    assert_ledger_balanced, audited, authorization, ledger_rows, post, practice, reserve_at,
};

const CLEANUP: &str = "/api/admin/maintenance/cleanup-stale";

async fn session_at(
    app: &TestApp,
    user: &TestUser,
    auth: &str,
    units: i64,
    minutes: i64,
) -> String {
    let response = reserve_at(app, user, auth, units, minutes).await;
    assert_eq!(response.status, StatusCode::CREATED, "{:?}", response.body);
    response.json()["session"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn status(app: &TestApp, user: &TestUser, id: &str) -> Value {
    app.get_as(user, &format!("/api/sessions/{id}"))
        .await
        .json()["session"]["status"]
        .clone()
}

async fn clean(app: &TestApp, user: &TestUser, query: &str) -> (StatusCode, Value) {
    let response = app
        .json_as(user, Method::POST, &format!("{CLEANUP}{query}"), &json!({}))
        .await;
    (response.status, response.json())
}

#[tokio::test]
async fn stale_reservations_are_released_with_one_ledger_and_audit_row_each() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let org = p.admin.organization_id;
    let auth = authorization(&app, &p.admin, &p.patient, 40).await;
    let stale = [
        session_at(&app, &p.admin, &auth, 1, -180).await,
        session_at(&app, &p.admin, &auth, 2, -180).await,
        session_at(&app, &p.admin, &auth, 3, -200).await,
    ];
    let started = session_at(&app, &p.admin, &auth, 2, -300).await;
    post(
        &app,
        &p.admin,
        &format!("/api/sessions/{started}/start"),
        json!({}),
    )
    .await;
    let current = session_at(&app, &p.admin, &auth, 1, -10).await;
    // Eight units (two hours) that started two hours ago end now: not stale for another hour.
    let long = session_at(&app, &p.admin, &auth, 8, -120).await;
    let done = session_at(&app, &p.admin, &auth, 1, -400).await;
    post(
        &app,
        &p.admin,
        &format!("/api/sessions/{done}/complete"),
        json!({ "actualUnits": 1 }),
    )
    .await;

    let (code, body) = clean(&app, &p.admin, "").await;

    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        body,
        json!({"success": true, "sessionsCleaned": 4, "totalUnitsRecovered": 8, "staleThresholdMinutes": 60})
    );
    for id in stale.iter().chain([&started]) {
        assert_eq!(status(&app, &p.admin, id).await, "CANCELLED");
    }
    assert_eq!(status(&app, &p.admin, &current).await, "SCHEDULED");
    assert_eq!(status(&app, &p.admin, &long).await, "SCHEDULED");
    assert_eq!(status(&app, &p.admin, &done).await, "COMPLETED");
    let released: Vec<_> = ledger_rows(&app, &auth)
        .await
        .into_iter()
        .filter(|(k, _)| k == "STALE_RELEASE")
        .collect();
    assert_eq!(released.len(), 4);
    let events = audited(&app, org, "STALE_RESERVATION_RELEASED").await;
    assert_eq!(events.len(), 4);
    assert!(
        events
            .iter()
            .all(|d| d["authorizationId"] == json!(auth) && d["trigger"] == "api")
    );
    assert_ledger_balanced(&app, org).await;
    let (_, again) = clean(&app, &p.admin, "").await;
    assert_eq!(again["sessionsCleaned"], 0, "nothing is released twice");
}

#[tokio::test]
async fn admins_clean_their_practice_operators_every_practice_others_nothing() {
    let app = TestApp::new().await;
    let a = practice(&app, "Practice A").await;
    let b = practice(&app, "Practice B").await;
    let auth_a = authorization(&app, &a.admin, &a.patient, 10).await;
    let auth_b = authorization(&app, &b.admin, &b.patient, 10).await;
    let in_a = session_at(&app, &a.admin, &auth_a, 2, -240).await;
    let in_b = session_at(&app, &b.admin, &auth_b, 3, -240).await;
    let billing = app.user_in(a.admin.organization_id, Role::Billing).await;
    let operator = app
        .user_in(OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;

    assert_eq!(clean(&app, &billing, "").await.0, StatusCode::FORBIDDEN);
    let (_, patient) = clean(&app, &a.admin, "?olderThanMinutes=600").await;
    assert_eq!(
        (
            patient["sessionsCleaned"].clone(),
            patient["staleThresholdMinutes"].clone()
        ),
        (json!(0), json!(600))
    );
    assert_eq!(
        clean(&app, &a.admin, "?olderThanMinutes=0").await.0,
        StatusCode::BAD_REQUEST
    );
    let (_, own) = clean(&app, &a.admin, "").await;
    assert_eq!(own["sessionsCleaned"], 1);
    assert_eq!(
        status(&app, &b.admin, &in_b).await,
        "SCHEDULED",
        "another practice is untouched"
    );
    let (code, all) = clean(&app, &operator, "").await;

    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        (
            all["sessionsCleaned"].clone(),
            all["totalUnitsRecovered"].clone()
        ),
        (json!(1), json!(3))
    );
    assert_eq!(status(&app, &a.admin, &in_a).await, "CANCELLED");
    assert_eq!(status(&app, &b.admin, &in_b).await, "CANCELLED");
    assert_ledger_balanced(&app, a.admin.organization_id).await;
    assert_ledger_balanced(&app, b.admin.organization_id).await;
}

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
