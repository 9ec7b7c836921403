//! `GET /api/audit-logs/verify`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use sqlx::Connection;

#[tokio::test]
async fn verify_reports_an_intact_chain_then_the_break() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    app.get_as(&admin, "/api/audit-logs").await;

    let intact = app.get_as(&admin, "/api/audit-logs/verify").await;
    assert_eq!(intact.status, StatusCode::OK);
    let body = intact.json();
    assert_eq!(body["valid"], true);
    assert!(body["checkedEntries"].as_u64().is_some_and(|n| n >= 1));
    assert!(body.get("firstBrokenSequence").is_none());

    let mut su = sqlx::PgConnection::connect_with(&app.db().superuser_options())
        .await
        .expect("su");
    sqlx::raw_sql("SET session_replication_role = replica; UPDATE audit_log SET outcome = 'denied' WHERE sequence = 1")
        .execute(&mut su)
        .await
        .expect("tamper");
    let broken = app.get_as(&admin, "/api/audit-logs/verify").await.json();
    assert_eq!(broken["valid"], false);
    assert_eq!(broken["firstBrokenSequence"], 1);
}
