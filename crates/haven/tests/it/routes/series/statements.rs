//! A series is written in a fixed number of statements whatever its number of occurrences:
//! every statement sqlx runs for the request is counted (its `sqlx::query` log event inside the
//! request's span, seen by a subscriber local to this test's thread; the router runs in-process
//! on it, and background jobs sharing the thread — the revocation re-read — are not the
//! request's), for 2 and for 52 occurrences with units reserved; and the authorization is
//! updated once for all.

use axum::http::StatusCode;
use haven_testkit::{TestApp, TestUser};
use serde_json::{Value, json};

use super::{create, series_body};
use crate::fixtures::scheduling::{clinic, text};
use crate::fixtures::statements::count_in;
use crate::fixtures::units::{as_owner, assert_ledger_balanced, authorization};

/// Books `body` as `user`, answering the response body and the statements it ran.
async fn counted(app: &TestApp, user: &TestUser, body: &Value) -> (Value, usize) {
    let (statements, guard) = count_in("request", "haven::http::context");
    let response = create(app, user, body).await;
    drop(guard);
    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    (response.json(), statements.count())
}

#[tokio::test]
async fn two_or_fifty_two_occurrences_take_the_same_statements() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 1000).await;
    as_owner(&app, "UPDATE authorizations SET start_date = '2026-01-01', end_date = '2028-12-31' WHERE id = $1::uuid", &auth).await;
    let weekly = |day: &str, count: i64| {
        series_body(
            &c.patient,
            &c.clinician,
            json!({ "authorizationId": auth, "recurrence":
                { "frequency": "WEEKLY", "interval": 1, "byDay": [day], "count": count } }),
        )
    };
    // Warm-up (first-use caches of the request path).
    counted(&app, &c.scheduler, &weekly("FR", 1)).await;

    let (two, two_statements) = counted(&app, &c.scheduler, &weekly("TU", 2)).await;
    let (many, many_statements) = counted(&app, &c.scheduler, &weekly("WE", 52)).await;

    assert_eq!(two["appointments"].as_array().map(Vec::len), Some(2));
    assert_eq!(many["appointments"].as_array().map(Vec::len), Some(52));
    assert_eq!(many["reservedUnits"], 52 * 4);
    assert!(two_statements > 0, "the statements are seen");
    assert_eq!(
        many_statements, two_statements,
        "no statement per occurrence"
    );
    let owner = app.db().owner_pool().await;
    let ledger_rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM unit_ledger WHERE authorization_id = $1::uuid AND kind = 'RESERVE'",
    )
    .bind(&auth)
    .fetch_one(&owner)
    .await
    .expect("ledger");
    owner.close().await;
    assert_eq!(ledger_rows, 1 + 2 + 52);
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}
