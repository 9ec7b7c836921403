//! `GET /ready`: migrated, a migration pending, the database gone.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

#[tokio::test]
async fn ready_answers_ready_when_the_database_is_migrated() {
    let app = TestApp::new().await;

    let response = app.get("/ready").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({ "status": "ready" }));
}

#[tokio::test]
async fn ready_answers_503_when_a_migration_is_pending() {
    let app = TestApp::new().await;
    let mut owner = PgConnection::connect_with(&app.db().owner_options())
        .await
        .expect("owner");
    // As if this build carried a migration the database has not seen yet.
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&mut owner)
    .await
    .expect("forget the newest migration");

    let response = app.get("/ready").await;

    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = response.json();
    assert_eq!(body["error"], "SERVICE_UNAVAILABLE");
    assert_eq!(body["message"], "1 database migration(s) pending");
    assert!(body["requestId"].is_string());
}

#[tokio::test]
async fn ready_answers_503_when_the_database_is_gone() {
    let app = TestApp::new().await;
    let mut su = PgConnection::connect_with(&app.db().superuser_options().database("postgres"))
        .await
        .expect("superuser");
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE \"{}\" WITH (FORCE)",
        app.db().name()
    )))
    .execute(&mut su)
    .await
    .expect("drop the database under the app");

    let response = app.get("/ready").await;

    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.json()["message"], "Database unreachable");
    // Liveness does not depend on the database.
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
}
