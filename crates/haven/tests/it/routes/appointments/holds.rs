//! Holds expire: by the background job's run, and at use before it runs.

use axum::http::StatusCode;
use haven::scheduling::holds;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::scheduling::{book, booked, clinic, text};
use crate::fixtures::units::{
    as_owner, assert_ledger_balanced, authorization, get_authorization, patient,
};

const MONDAY_NINE: &str = "2027-03-15T13:00:00Z";

async fn expire(app: &TestApp, id: &serde_json::Value) {
    as_owner(
        app,
        "UPDATE calendar_entries SET hold_expires_at = now() - interval '1 second' WHERE id = $1::uuid",
        id.as_str().expect("id"),
    )
    .await;
}

#[tokio::test]
async fn the_job_releases_expired_holds_and_their_units_in_one_pass() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 40).await;
    let hold = json!({ "hold": { "ttlMinutes": 5 }, "authorizationId": auth });
    let expired = booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        hold.clone(),
    )
    .await;
    let fresh = booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        "2027-03-16T13:00:00Z",
        hold,
    )
    .await;
    expire(&app, &expired["id"]).await;

    let (holds_released, units) = holds::expire_all(app.state().db()).await.expect("expiry");

    assert_eq!((holds_released, units), (1, 4));
    let id = expired["id"].as_str().expect("id");
    let read = app
        .get_as(&c.admin, &format!("/api/appointments/{id}"))
        .await
        .json();
    assert_eq!(read["appointment"]["status"], "CANCELLED");
    let kept = app
        .get_as(
            &c.admin,
            &format!("/api/appointments/{}", fresh["id"].as_str().expect("id")),
        )
        .await
        .json();
    assert_eq!(kept["appointment"]["status"], "HELD");
    assert_eq!(
        get_authorization(&app, &c.admin, &auth).await["usedUnits"],
        4
    );
    assert!(
        app.audited(c.admin.organization_id, "APPOINTMENT_HOLD_EXPIRED")
            .await
    );
    assert_ledger_balanced(&app, c.admin.organization_id).await;
    assert_eq!(
        holds::expire_all(app.state().db()).await.expect("again"),
        (0, 0)
    );
}

#[tokio::test]
async fn an_expired_hold_does_not_block_its_time_even_before_the_job_runs() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let other = patient(&app, &c.admin, "MRN-NEXT").await;
    let held = booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({ "hold": { "ttlMinutes": 5 } }),
    )
    .await;
    let blocked = book(
        &app,
        &c.scheduler,
        &other,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;
    assert_eq!(blocked.error_code(), "SCHEDULE_CONFLICT");
    expire(&app, &held["id"]).await;

    let response = book(
        &app,
        &c.scheduler,
        &other,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    let confirm = crate::fixtures::units::post(
        &app,
        &c.scheduler,
        &format!(
            "/api/appointments/{}/confirm",
            held["id"].as_str().expect("id")
        ),
        json!({}),
    )
    .await;
    assert_eq!(confirm.status, StatusCode::CONFLICT);
}
