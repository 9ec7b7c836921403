//! `POST /api/notes/{id}/sign`.

use axum::http::{Method, StatusCode};
use haven_testkit::{PASSWORD, TestApp};
use serde_json::json;

use crate::fixtures::auth::{code_at, enrol, now};
use crate::fixtures::notes::{audited_note, note_clinic, sign, soap, text, written};

async fn failed_logins(app: &TestApp, user: haven::ids::UserId) -> i32 {
    let owner = app.db().owner_pool().await;
    sqlx::query_scalar("SELECT failed_logins FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&owner)
        .await
        .expect("user")
}

#[tokio::test]
async fn the_author_signs_with_their_password_and_the_hmac_covers_the_version() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;

    let response = app
        .json_as(
            &c.author,
            Method::POST,
            &format!("/api/notes/{id}/sign"),
            &json!({ "password": PASSWORD, "attestation": "I attest this is accurate.", "expectedVersion": 1 }),
        )
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", text(&response));
    assert_eq!(response.json()["note"]["status"], "SIGNED");
    assert_eq!(response.json()["note"]["signedBy"], c.author.id.to_string());
    let read = app
        .get_as(&c.author, &format!("/api/notes/{id}"))
        .await
        .json();
    let signature = &read["note"]["signatures"][0];
    assert_eq!(signature["version"], 1);
    assert_eq!(signature["method"], "password");
    assert_eq!(signature["valid"], true);
    assert_eq!(signature["statement"], "I attest this is accurate.");
    assert_eq!(audited_note(&app, &c.admin, "NOTE_SIGN", &id).await, 1);
    assert_eq!(failed_logins(&app, c.author.id).await, 0);
}

#[tokio::test]
async fn missing_sections_are_a_422_naming_them() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let mut body = soap(&c.patient, "PROGRESS");
    body["sections"] = json!({ "subjective": "Only this.", "plan": "  " });
    let id = written(&app, &c.author, &body).await;

    let response = sign(&app, &c.author, &id).await;

    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        text(&response)
    );
    assert_eq!(response.error_code(), "VALIDATION_ERROR");
    let details = response.json()["details"].clone();
    for name in ["objective", "assessment", "plan"] {
        assert!(
            details.get(format!("sections.{name}")).is_some(),
            "{details}"
        );
    }
    assert!(details.get("sections.subjective").is_none());
    let read = app
        .get_as(&c.author, &format!("/api/notes/{id}"))
        .await
        .json();
    assert_eq!(read["note"]["status"], "DRAFT");
}

#[tokio::test]
async fn a_wrong_password_is_401_audited_and_counts_toward_the_lock() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    let wrong = json!({ "password": "not-my-password-at-all" });

    for attempt in 1..=5 {
        let response = app
            .json_as(
                &c.author,
                Method::POST,
                &format!("/api/notes/{id}/sign"),
                &wrong,
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
        assert_eq!(response.error_code(), "INVALID_CREDENTIALS");
    }

    assert_eq!(
        audited_note(&app, &c.admin, "NOTE_SIGN_FAILED", &id).await,
        5
    );
    assert_eq!(failed_logins(&app, c.author.id).await, 5);
    // The account is locked now: even the right password neither signs nor logs in.
    assert_eq!(
        sign(&app, &c.author, &id).await.status,
        StatusCode::UNAUTHORIZED
    );
    let login = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": c.author.email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED);
    let read = app
        .get_as(&c.admin, &format!("/api/notes/{id}"))
        .await
        .json();
    assert_eq!(read["note"]["status"], "DRAFT");
}

#[tokio::test]
async fn with_mfa_enrolled_a_totp_code_signs() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let (secret, _) = enrol(&app, &c.author).await;
    let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;

    let wrong = app
        .json_as(
            &c.author,
            Method::POST,
            &format!("/api/notes/{id}/sign"),
            &json!({ "mfaCode": "000000" }),
        )
        .await;
    let right = app
        .json_as(
            &c.author,
            Method::POST,
            &format!("/api/notes/{id}/sign"),
            &json!({ "mfaCode": code_at(&secret, now()) }),
        )
        .await;

    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(right.status, StatusCode::OK, "{}", text(&right));
    let read = app
        .get_as(&c.author, &format!("/api/notes/{id}"))
        .await
        .json();
    assert_eq!(read["note"]["signatures"][0]["method"], "mfa");
}

#[tokio::test]
async fn signing_twice_is_refused() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    assert_eq!(sign(&app, &c.author, &id).await.status, StatusCode::OK);

    let again = sign(&app, &c.author, &id).await;

    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "INVALID_STATE");
    let read = app
        .get_as(&c.author, &format!("/api/notes/{id}"))
        .await
        .json();
    assert_eq!(read["note"]["signatures"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn bad_bodies_are_400_and_nothing_is_spent() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    for (field, body) in [
        ("password", json!({})),
        (
            "password",
            json!({ "password": PASSWORD, "mfaCode": "123456" }),
        ),
        (
            "attestation",
            json!({ "password": PASSWORD, "attestation": "x".repeat(2001) }),
        ),
        ("mfaCode", json!({ "mfaCode": "123456" })),
    ] {
        let response = app
            .json_as(
                &c.author,
                Method::POST,
                &format!("/api/notes/{id}/sign"),
                &body,
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{field}: {}",
            text(&response)
        );
        assert!(
            response.json()["details"].get(field).is_some(),
            "{}",
            text(&response)
        );
    }
    assert_eq!(failed_logins(&app, c.author.id).await, 0);
}

#[tokio::test]
async fn only_the_author_signs_and_another_practice_gets_404() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let b = note_clinic(&app, "Practice B").await;
    let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;

    let colleague = sign(&app, &c.colleague, &id).await;
    let admin = sign(&app, &c.admin, &id).await;
    let billing = sign(&app, &c.billing, &id).await;
    let foreign = sign(&app, &b.author, &id).await;

    assert_eq!(colleague.status, StatusCode::FORBIDDEN);
    assert_eq!(admin.status, StatusCode::FORBIDDEN);
    assert_eq!(billing.status, StatusCode::FORBIDDEN);
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
    assert_eq!(failed_logins(&app, c.colleague.id).await, 0);
}
