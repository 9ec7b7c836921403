//! `POST /api/appointments` with an authorization: units reserved in the same transaction.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::scheduling::{book, clinic, text};
use crate::fixtures::units::{
    assert_ledger_balanced, authorization, get_authorization, ledger_rows, patient,
};

const MONDAY_NINE: &str = "2027-03-15T13:00:00Z";

#[tokio::test]
async fn booking_with_an_authorization_reserves_its_units_as_a_session() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 40).await;

    let response = book(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({ "authorizationId": auth }),
    )
    .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    let body = response.json();
    // 60 minutes of 15-minute units.
    assert_eq!(body["remainingUnits"], 36);
    assert!(body["appointment"]["sessionId"].is_string());
    assert_eq!(
        get_authorization(&app, &c.admin, &auth).await["usedUnits"],
        4
    );
    assert_eq!(
        ledger_rows(&app, &auth).await,
        vec![("RESERVE".to_owned(), 4)]
    );
    assert!(
        app.audited(c.admin.organization_id, "SESSION_RESERVE")
            .await
    );
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn units_that_do_not_fit_refuse_the_whole_booking() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 3).await;

    let response = book(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({ "authorizationId": auth, "expectedUnits": 4 }),
    )
    .await;

    assert_eq!(response.status, StatusCode::CONFLICT);
    assert_eq!(response.error_code(), "INSUFFICIENT_UNITS");
    let list = app.get_as(&c.admin, "/api/appointments").await.json();
    assert_eq!(list["pagination"]["total"], 0);
    assert!(ledger_rows(&app, &auth).await.is_empty());
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn a_conflict_after_the_units_were_taken_gives_them_back() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 40).await;
    let body = json!({ "authorizationId": auth });
    book(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        body.clone(),
    )
    .await;

    let again = book(&app, &c.admin, &c.patient, &c.clinician, MONDAY_NINE, body).await;

    assert_eq!(again.error_code(), "SCHEDULE_CONFLICT");
    assert_eq!(
        get_authorization(&app, &c.admin, &auth).await["usedUnits"],
        4
    );
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn an_authorization_of_another_patient_or_service_is_refused_naming_it() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let other = patient(&app, &c.admin, "MRN-OTHER").await;
    let theirs = authorization(&app, &c.admin, &other, 40).await;
    let own = authorization(&app, &c.admin, &c.patient, 40).await;

    let wrong_patient = book(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({ "authorizationId": theirs }),
    )
    .await;
    let wrong_service = book(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({ "authorizationId": own, "serviceCode": "97155" }),
    )
    .await;

    for response in [&wrong_patient, &wrong_service] {
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{}",
            text(response)
        );
        assert!(response.json()["details"]["authorizationId"].is_string());
    }
    assert!(ledger_rows(&app, &theirs).await.is_empty());
    assert!(ledger_rows(&app, &own).await.is_empty());
}

#[tokio::test]
async fn another_practices_authorization_is_not_found_and_audited() {
    let app = TestApp::new().await;
    let a = clinic(&app, "Practice A", 0).await;
    let b = clinic(&app, "Practice B", 0).await;
    let theirs = authorization(&app, &a.admin, &a.patient, 40).await;

    let response = book(
        &app,
        &b.admin,
        &b.patient,
        &b.clinician,
        MONDAY_NINE,
        json!({ "authorizationId": theirs }),
    )
    .await;

    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
    assert!(ledger_rows(&app, &theirs).await.is_empty());
}
