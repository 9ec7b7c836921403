//! `POST /api/appointments/{id}/reschedule`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::scheduling::{booked, clinic, text};
use crate::fixtures::units::{
    assert_ledger_balanced, authorization, get_authorization, ledger_rows, post,
};

fn path(appointment: &Value) -> String {
    format!(
        "/api/appointments/{}/reschedule",
        appointment["id"].as_str().expect("id")
    )
}

#[tokio::test]
async fn a_reschedule_moves_the_time_and_the_units_through_the_ledger() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 40).await;
    let appointment = booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        "2027-03-15T13:00:00Z",
        json!({ "authorizationId": auth }),
    )
    .await;

    let moved = post(
        &app,
        &c.scheduler,
        &path(&appointment),
        json!({ "start": "2027-03-16T14:00:00Z", "durationMinutes": 90, "expectedVersion": 1 }),
    )
    .await;

    assert_eq!(moved.status, StatusCode::OK, "{}", text(&moved));
    let body = moved.json();
    assert_eq!(body["appointment"]["start"], "2027-03-16T14:00:00Z");
    assert_eq!(body["appointment"]["end"], "2027-03-16T15:30:00Z");
    assert_eq!(body["appointment"]["version"], 2);
    assert_ne!(body["appointment"]["sessionId"], appointment["sessionId"]);
    assert_eq!(body["remainingUnits"], 34);
    assert_eq!(
        get_authorization(&app, &c.admin, &auth).await["usedUnits"],
        6
    );
    let mut rows: Vec<(String, i32)> = ledger_rows(&app, &auth).await;
    rows.sort();
    assert_eq!(
        rows,
        vec![
            ("RELEASE".into(), -4),
            ("RESERVE".into(), 4),
            ("RESERVE".into(), 6)
        ]
    );
    assert_ledger_balanced(&app, c.admin.organization_id).await;
    assert!(
        app.audited(c.admin.organization_id, "APPOINTMENT_RESCHEDULE")
            .await
    );
}

#[tokio::test]
async fn a_stale_version_or_a_taken_time_changes_nothing() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let appointment = booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        "2027-03-15T13:00:00Z",
        json!({}),
    )
    .await;
    let other_patient = crate::fixtures::units::patient(&app, &c.admin, "MRN-B").await;
    booked(
        &app,
        &c.admin,
        &other_patient,
        &c.clinician,
        "2027-03-16T13:00:00Z",
        json!({}),
    )
    .await;

    let stale = post(
        &app,
        &c.admin,
        &path(&appointment),
        json!({ "start": "2027-03-17T13:00:00Z", "expectedVersion": 7 }),
    )
    .await;
    let taken = post(
        &app,
        &c.admin,
        &path(&appointment),
        json!({ "start": "2027-03-16T13:30:00Z", "expectedVersion": 1 }),
    )
    .await;
    let invalid = post(
        &app,
        &c.admin,
        &path(&appointment),
        json!({ "start": "soon", "durationMinutes": 5, "expectedVersion": 1 }),
    )
    .await;

    let off_grid = post(
        &app,
        &c.admin,
        &path(&appointment),
        json!({ "start": "2027-03-17T13:02:00Z", "expectedVersion": 1 }),
    )
    .await;
    assert_eq!(off_grid.status, StatusCode::BAD_REQUEST);
    assert!(off_grid.json()["details"]["start"].is_string());
    assert_eq!(stale.error_code(), "CONFLICT");
    assert_eq!(taken.error_code(), "SCHEDULE_CONFLICT");
    assert_eq!(taken.json()["details"]["conflictWith"], "clinician");
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert!(invalid.json()["details"]["start"].is_string());
    assert!(invalid.json()["details"]["durationMinutes"].is_string());
    let id = appointment["id"].as_str().expect("id");
    let read = app
        .get_as(&c.admin, &format!("/api/appointments/{id}"))
        .await
        .json();
    assert_eq!(read["appointment"]["start"], "2027-03-15T13:00:00Z");
    assert_eq!(read["appointment"]["version"], 1);
}

#[tokio::test]
async fn billing_and_other_practices_cannot_reschedule() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let appointment = booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        "2027-03-15T13:00:00Z",
        json!({}),
    )
    .await;
    let billing = app.user_in(c.admin.organization_id, Role::Billing).await;
    let other = app.org_with("Practice B", Role::Admin).await;
    let body = json!({ "start": "2027-03-17T13:00:00Z", "expectedVersion": 1 });

    let by_billing = post(&app, &billing, &path(&appointment), body.clone()).await;
    let by_other = post(&app, &other, &path(&appointment), body).await;

    assert_eq!(by_billing.status, StatusCode::FORBIDDEN);
    assert_eq!(by_other.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(other.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
}
