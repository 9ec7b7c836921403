//! `POST /api/sessions`: refusals with their SPEC codes, low-units alerts.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::post;
use crate::fixtures::units::{
    as_owner, assert_ledger_balanced, audited, authorization, ledger_rows, practice, reserve,
    reserve_at, reserved,
};

#[tokio::test]
async fn refused_reservations_answer_their_spec_code_and_write_nothing() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let auth = authorization(&app, &p.admin, &p.patient, 5).await;
    reserved(&app, &p.admin, &auth, 3).await;

    let insufficient = reserve(&app, &p.admin, &auth, 3).await;
    assert_eq!(
        (insufficient.status, insufficient.error_code().as_str()),
        (StatusCode::CONFLICT, "INSUFFICIENT_UNITS")
    );
    let expired = reserve_at(&app, &p.admin, &auth, 1, 60 * 24 * 365).await;
    assert_eq!(expired.error_code(), "AUTHORIZATION_EXPIRED");
    let before = reserve_at(&app, &p.admin, &auth, 1, -60 * 24 * 40).await;
    assert_eq!(before.error_code(), "AUTHORIZATION_EXPIRED");
    let too_long = reserve(&app, &p.admin, &auth, 200).await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
    assert!(too_long.json()["details"]["expectedUnits"].is_string());
    reserved(&app, &p.admin, &auth, 2).await;
    let exhausted = reserve(&app, &p.admin, &auth, 1).await;
    assert_eq!(exhausted.error_code(), "AUTHORIZATION_EXHAUSTED");
    let other = authorization(&app, &p.admin, &p.patient, 5).await;
    as_owner(
        &app,
        "UPDATE authorizations SET status = 'CANCELLED' WHERE id = $1::uuid",
        &other,
    )
    .await;
    let inactive = reserve(&app, &p.admin, &other, 1).await;
    assert_eq!(inactive.error_code(), "AUTHORIZATION_NOT_ACTIVE");
    for units in [
        json!(0),
        json!(-1),
        json!(1_000_000),
        json!(1.5),
        json!("2"),
    ] {
        let response = post(&app, &p.admin, "/api/sessions", json!({
            "authorizationId": auth, "startTime": "2026-01-01T10:00:00Z", "expectedUnits": units,
        })).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{units}");
    }
    let bad_time = post(
        &app,
        &p.admin,
        "/api/sessions",
        json!({
            "authorizationId": auth, "startTime": "tomorrow", "expectedUnits": 1,
        }),
    )
    .await;
    assert!(bad_time.json()["details"]["startTime"].is_string());

    assert_eq!(
        ledger_rows(&app, &auth).await.len(),
        2,
        "only the two accepted reservations"
    );
    assert!(ledger_rows(&app, &other).await.is_empty());
    assert_ledger_balanced(&app, p.admin.organization_id).await;
}

#[tokio::test]
async fn low_units_are_recorded_once_per_crossing() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let org = p.admin.organization_id;
    let auth = authorization(&app, &p.admin, &p.patient, 20).await;

    reserved(&app, &p.admin, &auth, 17).await;
    let crossing = reserved(&app, &p.admin, &auth, 2).await;
    reserved(&app, &p.admin, &auth, 1).await;
    assert_eq!(audited(&app, org, "AUTHORIZATION_LOW_UNITS").await.len(), 1);
    post(
        &app,
        &p.admin,
        &format!("/api/sessions/{crossing}/cancel"),
        json!({ "reason": "rescheduled" }),
    )
    .await;
    reserved(&app, &p.admin, &auth, 2).await;

    let events = audited(&app, org, "AUTHORIZATION_LOW_UNITS").await;
    assert_eq!(events.len(), 2, "a second crossing after units came back");
    assert_eq!(events[0]["lowUnitsThreshold"], 2);
    let low = app
        .get_as(&p.admin, "/api/authorizations?lowUnits=true")
        .await
        .json();
    assert_eq!(low["pagination"]["total"], 1);
}

#[tokio::test]
async fn a_reserved_session_keeps_its_shape() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let auth = authorization(&app, &p.admin, &p.patient, 20).await;

    let created = reserve(&app, &p.admin, &auth, 4).await;

    assert_eq!(created.status, StatusCode::CREATED);
    insta::assert_json_snapshot!(created.json(), {
        ".session.id" => "[id]",
        ".session.authorizationId" => "[id]",
        ".session.patientId" => "[id]",
        ".session.clinicianId" => "[id]",
        ".session.startTime" => "[timestamp]",
        ".session.createdAt" => "[timestamp]",
        ".session.updatedAt" => "[timestamp]",
    });
}
