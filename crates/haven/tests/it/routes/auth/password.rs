//! `POST /api/auth/password`: the old password, the policy, other sessions ended.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::{PASSWORD, TestApp};
use serde_json::json;

use crate::fixtures::auth::refresh;

#[tokio::test]
async fn changing_the_password_checks_the_old_one_and_the_policy() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Billing).await;
    let other_session = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": user.email, "password": PASSWORD }),
        )
        .await
        .json();
    let change =
        |current: &str, new: &str| json!({ "currentPassword": current, "newPassword": new });

    let wrong = app
        .json_as(
            &user,
            Method::POST,
            "/api/auth/password",
            &change("nope-nope-nope", "a brand new passphrase 77"),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.json()["details"]["currentPassword"], "is incorrect");

    let weak = app
        .json_as(
            &user,
            Method::POST,
            "/api/auth/password",
            &change(PASSWORD, "passwordpassword"),
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.json()["details"]["newPassword"].is_string());

    let short = app
        .json_as(
            &user,
            Method::POST,
            "/api/auth/password",
            &change(PASSWORD, "Sh0rt!"),
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);

    let ok = app
        .json_as(
            &user,
            Method::POST,
            "/api/auth/password",
            &change(PASSWORD, "a brand new passphrase 77"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);

    let old = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": user.email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": user.email, "password": "a brand new passphrase 77" }),
        )
        .await;
    assert_eq!(new.status, StatusCode::OK);
    let other_refresh = other_session["refreshToken"].as_str().expect("token");
    assert_eq!(
        refresh(&app, other_refresh).await.status,
        StatusCode::UNAUTHORIZED,
        "other sessions ended"
    );
    assert_eq!(
        refresh(&app, &user.refresh_token).await.status,
        StatusCode::OK,
        "this session lives on"
    );
    assert!(app.audited(user.organization_id, "PASSWORD_CHANGE").await);
}
