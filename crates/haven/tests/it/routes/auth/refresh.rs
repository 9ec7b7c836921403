//! `POST /api/auth/refresh`: rotation, reuse revoking the family, idle and absolute timeouts.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;

use crate::fixtures::auth::refresh;

#[tokio::test]
async fn refresh_rotates_and_the_old_token_stops_working() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;

    let first = refresh(&app, &user.refresh_token).await;

    assert_eq!(first.status, StatusCode::OK);
    let body = first.json();
    let next = body["refreshToken"].as_str().expect("new refresh token");
    assert_ne!(next, user.refresh_token);
    assert!(body["token"].is_string());
    assert_eq!(
        refresh(&app, next).await.status,
        StatusCode::OK,
        "the new one works"
    );
    assert!(app.audited(user.organization_id, "TOKEN_REFRESH").await);
}

#[tokio::test]
async fn presenting_a_rotated_token_revokes_the_whole_family() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    let rotated = refresh(&app, &user.refresh_token).await.json();
    let current = rotated["refreshToken"].as_str().expect("token").to_owned();

    // The stolen, already-rotated token comes back.
    let reuse = refresh(&app, &user.refresh_token).await;

    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh(&app, &current).await.status,
        StatusCode::UNAUTHORIZED,
        "family revoked"
    );
    let events = app.audit_events(user.organization_id).await;
    assert!(
        events
            .iter()
            .any(|(a, o, _)| a == "REFRESH_TOKEN_REUSE" && o == "denied")
    );
}

async fn age_session(app: &TestApp, user: &haven_testkit::TestUser, column: &str, by: &str) {
    let owner = app.db().owner_pool().await;
    let statement = format!(
        "UPDATE refresh_families SET {column} = {column} - interval '{by}' WHERE user_id = $1"
    );
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .bind(user.id)
        .execute(&owner)
        .await
        .expect("age the session");
}

#[tokio::test]
async fn a_session_idle_for_more_than_30_minutes_is_over() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    age_session(&app, &user, "last_used_at", "31 minutes").await;

    assert_eq!(
        refresh(&app, &user.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_session_older_than_12_hours_is_over_however_active() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    age_session(&app, &user, "created_at", "12 hours 1 minute").await;

    assert_eq!(
        refresh(&app, &user.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
}
