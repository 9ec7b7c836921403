//! `GET /api/appointments/{id}` and `GET /api/appointments`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::scheduling::{booked, clinic};
use crate::fixtures::units::{audited, patient};

#[tokio::test]
async fn reading_an_appointment_is_audited_for_its_patient() {
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
    let id = appointment["id"].as_str().expect("id");

    let response = app
        .get_as(&c.scheduler, &format!("/api/appointments/{id}"))
        .await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.json()["appointment"]["patientId"],
        c.patient.as_str()
    );
    assert_eq!(
        audited(&app, c.admin.organization_id, "APPOINTMENT_READ")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn lists_are_filtered_paged_and_audited_per_patient() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let second = patient(&app, &c.admin, "MRN-TWO").await;
    booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        "2027-03-15T13:00:00Z",
        json!({}),
    )
    .await;
    booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        "2027-03-16T13:00:00Z",
        json!({}),
    )
    .await;
    booked(
        &app,
        &c.admin,
        &second,
        &c.clinician,
        "2027-03-17T13:00:00Z",
        json!({}),
    )
    .await;

    let all = app
        .get_as(&c.scheduler, "/api/appointments?limit=2")
        .await
        .json();
    let one_day = app
        .get_as(
            &c.scheduler,
            "/api/appointments?from=2027-03-16&to=2027-03-16",
        )
        .await
        .json();
    let bad = app
        .get_as(&c.scheduler, "/api/appointments?status=LATE")
        .await;

    assert_eq!(
        all["pagination"],
        json!({ "page": 1, "limit": 2, "total": 3, "totalPages": 2 })
    );
    assert_eq!(all["appointments"].as_array().map(Vec::len), Some(2));
    assert_eq!(one_day["pagination"]["total"], 1);
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // First page: one patient; second request: one patient.
    assert_eq!(
        audited(&app, c.admin.organization_id, "APPOINTMENT_LIST")
            .await
            .len(),
        2
    );
}

#[tokio::test]
async fn a_clinician_lists_their_own_calendar_and_billing_nothing() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let colleague = app.user_in(c.admin.organization_id, Role::Clinician).await;
    let billing = app.user_in(c.admin.organization_id, Role::Billing).await;
    booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        "2027-03-15T13:00:00Z",
        json!({}),
    )
    .await;

    let mine = app.get_as(&c.clinician, "/api/appointments").await.json();
    let theirs = app.get_as(&colleague, "/api/appointments").await.json();
    let by_billing = app.get_as(&billing, "/api/appointments").await;

    assert_eq!(mine["pagination"]["total"], 1);
    assert_eq!(theirs["pagination"]["total"], 0);
    assert_eq!(by_billing.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn another_practices_appointment_is_not_found_and_audited() {
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
    let other = app.org_with("Practice B", Role::Admin).await;

    let response = app
        .get_as(
            &other,
            &format!(
                "/api/appointments/{}",
                appointment["id"].as_str().expect("id")
            ),
        )
        .await;
    let listed = app.get_as(&other, "/api/appointments").await.json();

    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(other.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
    assert_eq!(listed["pagination"]["total"], 0);
}
