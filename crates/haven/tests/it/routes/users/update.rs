//! `PATCH /api/users/{id}`: role changes, disabling.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::users::create;

#[tokio::test]
async fn role_changes_are_audited_and_nobody_changes_their_own() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let sam = create(&app, &admin, "sam@a.example.org", "CLINICIAN")
        .await
        .json()["user"]
        .clone();
    let path = format!("/api/users/{}", sam["id"].as_str().expect("id"));

    let promoted = app
        .json_as(&admin, Method::PATCH, &path, &json!({ "role": "BILLING" }))
        .await;
    assert_eq!(promoted.status, StatusCode::OK);
    assert_eq!(promoted.json()["user"]["role"], "BILLING");

    let own = app
        .json_as(
            &admin,
            Method::PATCH,
            &format!("/api/users/{}", admin.id),
            &json!({ "role": "CLINICIAN" }),
        )
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN);
    let to_super = app
        .json_as(
            &admin,
            Method::PATCH,
            &path,
            &json!({ "role": "SUPER_ADMIN" }),
        )
        .await;
    assert_eq!(to_super.status, StatusCode::FORBIDDEN);
    let make_super = create(&app, &admin, "root@a.example.org", "SUPER_ADMIN").await;
    assert_eq!(make_super.status, StatusCode::FORBIDDEN);

    let events = app.audit_events(admin.organization_id).await;
    let role_change = events
        .iter()
        .find(|(a, _, _)| a == "ROLE_CHANGE")
        .expect("ROLE_CHANGE");
    assert_eq!(
        role_change.2,
        json!({ "from": "CLINICIAN", "to": "BILLING" })
    );
    let escalations = events
        .iter()
        .filter(|(a, _, _)| a == "ROLE_ESCALATION_ATTEMPT")
        .count();
    assert_eq!(escalations, 3);
}

#[tokio::test]
async fn a_disabled_user_loses_their_sessions_and_cannot_log_in() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;

    let response = app
        .json_as(
            &admin,
            Method::PATCH,
            &format!("/api/users/{}", clinician.id),
            &json!({ "disabled": true }),
        )
        .await;

    assert_eq!(response.status, StatusCode::OK);
    let refresh = app
        .json(
            Method::POST,
            "/api/auth/refresh",
            &json!({ "refreshToken": clinician.refresh_token }),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    let login = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": clinician.email, "password": haven_testkit::PASSWORD }),
        )
        .await;
    assert_eq!(login.error_code(), "INVALID_CREDENTIALS");
}
