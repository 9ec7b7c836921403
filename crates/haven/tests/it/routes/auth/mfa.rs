//! MFA: enrolment, login with TOTP (each code once) and backup codes (each once), disabling,
//! and the organization's requirement for admins.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::{PASSWORD, TestApp, TestUser};
use serde_json::{Value, json};

use crate::fixtures::auth::{code_at, enrol, now};

async fn login(app: &TestApp, user: &TestUser, code: Option<&str>) -> haven_testkit::TestResponse {
    let mut body = json!({ "email": user.email, "password": PASSWORD });
    if let Some(code) = code {
        body["mfaCode"] = Value::from(code);
    }
    app.json(Method::POST, "/api/auth/login", &body).await
}

#[tokio::test]
async fn an_enrolled_user_needs_a_code_and_each_code_works_once() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    let (secret, backup) = enrol(&app, &user).await;
    assert_eq!(backup.len(), 10);
    assert!(app.audited(user.organization_id, "MFA_ENABLED").await);

    let without = login(&app, &user, None).await;
    assert_eq!(without.status, StatusCode::UNAUTHORIZED);
    assert_eq!(without.error_code(), "MFA_REQUIRED");

    let wrong = login(&app, &user, Some("000000")).await;
    assert_eq!(wrong.error_code(), "MFA_REQUIRED");

    let code = code_at(&secret, now());
    let with = login(&app, &user, Some(&code)).await;
    assert_eq!(with.status, StatusCode::OK);
    assert_eq!(with.json()["user"]["mfaEnabled"], true);

    let replay = login(&app, &user, Some(&code)).await;
    assert_eq!(replay.error_code(), "MFA_REQUIRED", "a code is good once");

    let by_backup = login(&app, &user, Some(&backup[0])).await;
    assert_eq!(by_backup.status, StatusCode::OK);
    let again = login(&app, &user, Some(&backup[0])).await;
    assert_eq!(
        again.error_code(),
        "MFA_REQUIRED",
        "a backup code is good once"
    );
}

#[tokio::test]
async fn backup_codes_are_stored_only_as_hashes() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Billing).await;
    let (_, backup) = enrol(&app, &user).await;

    let owner = app.db().owner_pool().await;
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT code_hash FROM mfa_backup_codes WHERE user_id = $1")
            .bind(user.id)
            .fetch_all(&owner)
            .await
            .expect("codes");
    assert_eq!(stored.len(), 10);
    for code in &backup {
        assert!(
            !stored
                .iter()
                .any(|h| h.windows(code.len()).any(|w| w == code.as_bytes()))
        );
    }
    let secret: Vec<u8> = sqlx::query_scalar("SELECT mfa_secret FROM users WHERE id = $1")
        .bind(user.id)
        .fetch_one(&owner)
        .await
        .expect("secret");
    assert_eq!(secret[0], 1, "sealed (versioned AES-GCM blob), not raw");
}

#[tokio::test]
async fn disabling_mfa_needs_the_password_and_a_code() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    let (secret, _) = enrol(&app, &user).await;
    let code = code_at(&secret, now());

    let no_password = app
        .json_as(
            &user,
            Method::POST,
            "/api/auth/mfa/disable",
            &json!({ "password": "wrong-password-here", "code": code }),
        )
        .await;
    assert_eq!(no_password.status, StatusCode::BAD_REQUEST);
    let bad_code = app
        .json_as(
            &user,
            Method::POST,
            "/api/auth/mfa/disable",
            &json!({ "password": PASSWORD, "code": "123456" }),
        )
        .await;
    assert_eq!(bad_code.status, StatusCode::BAD_REQUEST);

    let ok = app
        .json_as(
            &user,
            Method::POST,
            "/api/auth/mfa/disable",
            &json!({ "password": PASSWORD, "code": code }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    assert_eq!(login(&app, &user, None).await.status, StatusCode::OK);
    assert!(app.audited(user.organization_id, "MFA_DISABLED").await);
}

#[tokio::test]
async fn admins_of_an_organization_requiring_mfa_must_enrol_first() {
    let app = TestApp::new().await;
    let admin = app.org_with("Strict Practice", Role::Admin).await;
    require_mfa(&app, &admin).await;

    let blocked = app.get_as(&admin, "/api/users").await;
    assert_eq!(blocked.status, StatusCode::FORBIDDEN);
    assert!(
        blocked.json()["message"]
            .as_str()
            .expect("message")
            .contains("MFA")
    );

    // A refusal is never remembered (only passes are): enrolling lets the admin in at once.
    let (secret, _) = enrol(&app, &admin).await;
    let enrolled = logged_in_with_code(&app, &admin, &secret).await;
    assert_eq!(
        app.get_as(&enrolled, "/api/users").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn mfa_setup_twice_after_enrolment_is_a_conflict() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Compliance).await;
    enrol(&app, &user).await;

    let again = app
        .json_as(&user, Method::POST, "/api/auth/mfa/setup", &json!({}))
        .await;

    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "INVALID_STATE");
}

/// `user` logged in again with a TOTP code of `secret`: the same user with the new token.
async fn logged_in_with_code(app: &TestApp, user: &TestUser, secret: &[u8]) -> TestUser {
    let relogin = login(app, user, Some(&code_at(secret, now()))).await;
    assert_eq!(relogin.status, StatusCode::OK);
    let mut enrolled = user.clone();
    enrolled.token = relogin.json()["token"].as_str().expect("token").to_owned();
    enrolled
}

/// The organization of `admin` requires MFA of its admins (set behind Haven's back: no API does).
async fn require_mfa(app: &TestApp, admin: &TestUser) {
    let owner = app.db().owner_pool().await;
    sqlx::query("UPDATE organizations SET require_mfa_for_admins = true WHERE id = $1")
        .bind(admin.organization_id)
        .execute(&owner)
        .await
        .expect("require MFA");
    owner.close().await;
}

#[tokio::test]
async fn a_pass_of_the_mfa_gate_is_reused_for_at_most_a_second() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    assert_eq!(
        app.get_as(&admin, "/api/users").await.status,
        StatusCode::OK
    );

    // The requirement is switched on behind Haven's back (no API does it): the pass read a
    // moment ago may still be reused, but not past its second.
    require_mfa(&app, &admin).await;
    tokio::time::sleep(haven::auth::mfa_gate::PASS_TTL + std::time::Duration::from_millis(100))
        .await;
    let refused = app.get_as(&admin, "/api/users").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_who_disables_mfa_where_it_is_required_is_held_back_at_once() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let (secret, _) = enrol(&app, &admin).await;
    require_mfa(&app, &admin).await;
    let enrolled = logged_in_with_code(&app, &admin, &secret).await;
    assert_eq!(
        app.get_as(&enrolled, "/api/users").await.status,
        StatusCode::OK
    );

    let code = code_at(&secret, now() + 30);
    let disabled = app
        .json_as(
            &enrolled,
            Method::POST,
            "/api/auth/mfa/disable",
            &json!({ "password": PASSWORD, "code": code }),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::NO_CONTENT);
    // No second's grace on the instance that disabled it.
    assert_eq!(
        app.get_as(&enrolled, "/api/users").await.status,
        StatusCode::FORBIDDEN
    );
}
