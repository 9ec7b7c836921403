//! `POST /api/auth/logout`.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::auth::refresh;

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Billing).await;

    let response = app
        .json_as(&user, Method::POST, "/api/auth/logout", &json!({}))
        .await;

    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert_eq!(
        refresh(&app, &user.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(app.audited(user.organization_id, "LOGOUT").await);
}
