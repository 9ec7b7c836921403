//! `POST /api/appointment-series/{id}/cancel`.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::{TestApp, TestResponse, TestUser};
use serde_json::{Value, json};

use super::{create, series_body, stored};
use crate::fixtures::scheduling::{clinic, text};
use crate::fixtures::units::{
    assert_ledger_balanced, audited, authorization, get_authorization, ledger_rows,
};

async fn cancel(app: &TestApp, user: &TestUser, id: &str, body: Value) -> TestResponse {
    app.json_as(
        user,
        Method::POST,
        &format!("/api/appointment-series/{id}/cancel"),
        &body,
    )
    .await
}

#[tokio::test]
async fn cancelling_from_a_date_releases_the_units_of_the_later_occurrences() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 100).await;
    let created = create(
        &app,
        &c.scheduler,
        &series_body(&c.patient, &c.clinician, json!({ "authorizationId": auth })),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", text(&created));
    let id = created.json()["series"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let response = cancel(
        &app,
        &c.scheduler,
        &id,
        json!({ "fromDate": "2027-01-08", "reason": "family moved" }),
    )
    .await;

    assert_eq!(response.status, StatusCode::OK, "{}", text(&response));
    assert_eq!(response.json()["cancelled"], 2);
    assert_eq!(response.json()["releasedUnits"], 8);
    let statuses: Vec<String> = stored(&app, &id).await.into_iter().map(|r| r.1).collect();
    assert_eq!(statuses, ["BOOKED", "BOOKED", "CANCELLED", "CANCELLED"]);
    assert_eq!(
        get_authorization(&app, &c.admin, &auth).await["usedUnits"],
        8
    );
    assert_eq!(
        ledger_rows(&app, &auth)
            .await
            .iter()
            .filter(|r| r.0 == "RELEASE")
            .count(),
        2
    );
    assert_ledger_balanced(&app, c.admin.organization_id).await;
    let org = c.admin.organization_id;
    assert_eq!(audited(&app, org, "SERIES_CANCEL").await.len(), 1);
    assert_eq!(audited(&app, org, "APPOINTMENT_CANCEL").await.len(), 2);

    let again = cancel(
        &app,
        &c.scheduler,
        &id,
        json!({ "fromDate": "2027-01-08", "reason": "again" }),
    )
    .await;
    assert_eq!(again.json()["cancelled"], 0);
    assert_ledger_balanced(&app, org).await;
}

#[tokio::test]
async fn cancel_needs_a_reason_and_a_role_and_the_practice() {
    let app = TestApp::new().await;
    let a = clinic(&app, "Practice A", 0).await;
    let b = clinic(&app, "Practice B", 0).await;
    let created = create(
        &app,
        &a.admin,
        &series_body(&a.patient, &a.clinician, json!({})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", text(&created));
    let id = created.json()["series"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let billing = app.user_in(a.admin.organization_id, Role::Billing).await;

    let no_reason = cancel(&app, &a.admin, &id, json!({ "reason": "" })).await;
    let bad_date = cancel(
        &app,
        &a.admin,
        &id,
        json!({ "reason": "x", "fromDate": "soon" }),
    )
    .await;
    let forbidden = cancel(&app, &billing, &id, json!({ "reason": "x" })).await;
    let foreign = cancel(&app, &b.scheduler, &id, json!({ "reason": "x" })).await;

    assert_eq!(
        no_reason.status,
        StatusCode::BAD_REQUEST,
        "{}",
        text(&no_reason)
    );
    assert_eq!(bad_date.status, StatusCode::BAD_REQUEST);
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", text(&foreign));
    assert_eq!(
        audited(&app, b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
            .len(),
        1
    );
    assert!(stored(&app, &id).await.iter().all(|r| r.1 == "BOOKED"));
}
