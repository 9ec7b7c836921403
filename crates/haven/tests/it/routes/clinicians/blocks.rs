//! `POST /api/clinicians/{userId}/blocks`, `DELETE /api/clinicians/{userId}/blocks/{id}`.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::{TestApp, TestResponse, TestUser};
use serde_json::{Value, json};

use crate::fixtures::scheduling::{clinic, text};

async fn block(app: &TestApp, user: &TestUser, clinician: &TestUser, body: Value) -> TestResponse {
    app.json_as(
        user,
        Method::POST,
        &format!("/api/clinicians/{}/blocks", clinician.id),
        &body,
    )
    .await
}

fn afternoon() -> Value {
    json!({ "start": "2027-03-15T17:00:00Z", "end": "2027-03-15T21:00:00Z", "reason": "Conference" })
}

#[tokio::test]
async fn a_clinician_blocks_and_unblocks_time_off() {
    let app = TestApp::new().await;
    let clinic = clinic(&app, "Practice A", 0).await;

    let created = block(&app, &clinic.clinician, &clinic.clinician, afternoon()).await;

    assert_eq!(created.status, StatusCode::CREATED, "{}", text(&created));
    let id = created.json()["block"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(created.json()["block"]["start"], "2027-03-15T17:00:00Z");
    let path = format!("/api/clinicians/{}/blocks/{id}", clinic.clinician.id);
    let deleted = app
        .json_as(&clinic.scheduler, Method::DELETE, &path, &json!({}))
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", text(&deleted));
    let again = app
        .json_as(&clinic.scheduler, Method::DELETE, &path, &json!({}))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let org = clinic.admin.organization_id;
    assert!(app.audited(org, "SCHEDULE_BLOCK_CREATE").await);
    assert!(app.audited(org, "SCHEDULE_BLOCK_DELETE").await);
}

#[tokio::test]
async fn overlapping_blocks_conflict_with_the_clinician() {
    let app = TestApp::new().await;
    let clinic = clinic(&app, "Practice A", 0).await;
    block(&app, &clinic.admin, &clinic.clinician, afternoon()).await;

    let overlapping = block(
        &app,
        &clinic.admin,
        &clinic.clinician,
        json!({ "start": "2027-03-15T20:00:00Z", "end": "2027-03-15T22:00:00Z", "reason": "Dentist" }),
    )
    .await;
    let adjacent = block(
        &app,
        &clinic.admin,
        &clinic.clinician,
        json!({ "start": "2027-03-15T21:00:00Z", "end": "2027-03-15T22:00:00Z", "reason": "Dentist" }),
    )
    .await;

    assert_eq!(overlapping.status, StatusCode::CONFLICT);
    let body = overlapping.json();
    assert_eq!(body["error"], "SCHEDULE_CONFLICT");
    assert_eq!(body["details"]["conflictWith"], "clinician");
    assert!(
        !text(&overlapping).contains("2027-03-15"),
        "{}",
        text(&overlapping)
    );
    assert_eq!(
        adjacent.status,
        StatusCode::CREATED,
        "half-open ranges touch"
    );
}

#[tokio::test]
async fn invalid_blocks_are_refused_naming_the_field() {
    let app = TestApp::new().await;
    let clinic = clinic(&app, "Practice A", 0).await;

    let backwards = block(
        &app,
        &clinic.admin,
        &clinic.clinician,
        json!({ "start": "2027-03-15T21:00:00Z", "end": "2027-03-15T17:00:00Z", "reason": "x" }),
    )
    .await;
    let garbage = block(
        &app,
        &clinic.admin,
        &clinic.clinician,
        json!({ "start": "tomorrow", "end": "2027-03-15T17:00:00Z", "reason": "" }),
    )
    .await;

    assert_eq!(backwards.status, StatusCode::BAD_REQUEST);
    assert!(backwards.json()["details"]["end"].is_string());
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    assert!(garbage.json()["details"]["start"].is_string());
    assert!(garbage.json()["details"]["reason"].is_string());
}

#[tokio::test]
async fn billing_may_not_block_and_another_clinician_neither() {
    let app = TestApp::new().await;
    let clinic = clinic(&app, "Practice A", 0).await;
    let billing = app
        .user_in(clinic.admin.organization_id, Role::Billing)
        .await;
    let colleague = app
        .user_in(clinic.admin.organization_id, Role::Clinician)
        .await;

    assert_eq!(
        block(&app, &billing, &clinic.clinician, afternoon())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        block(&app, &colleague, &clinic.clinician, afternoon())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn another_practice_cannot_block_or_delete_and_is_audited() {
    let app = TestApp::new().await;
    let clinic = clinic(&app, "Practice A", 0).await;
    let created = block(&app, &clinic.admin, &clinic.clinician, afternoon()).await;
    let id = created.json()["block"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let b = app.org_with("Practice B", Role::Admin).await;
    let b_clinician = app.user_in(b.organization_id, Role::Clinician).await;

    let foreign_clinician = block(&app, &b, &clinic.clinician, afternoon()).await;
    let foreign_block = app
        .json_as(
            &b,
            Method::DELETE,
            &format!("/api/clinicians/{}/blocks/{id}", b_clinician.id),
            &json!({}),
        )
        .await;

    assert_eq!(foreign_clinician.status, StatusCode::NOT_FOUND);
    assert_eq!(foreign_block.status, StatusCode::NOT_FOUND);
    let attempts = app
        .audit_events(b.organization_id)
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "CROSS_TENANT_ACCESS_ATTEMPT")
        .count();
    assert_eq!(attempts, 2);
}
