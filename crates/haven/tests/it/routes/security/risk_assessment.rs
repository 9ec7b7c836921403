//! `PUT /api/security/incidents/{id}/risk-assessment`.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::security::opened;

fn assessment() -> Value {
    json!({
        "natureAndExtent": "Demographics of 21 patients, no clinical notes",
        "unauthorizedPerson": "A practice administrator with a workforce agreement",
        "acquiredOrViewed": "Viewed on screen; no export recorded",
        "mitigation": "Sessions revoked; attestation of non-retention signed",
        "determination": "LOW_PROBABILITY_OF_COMPROMISE",
    })
}

#[tokio::test]
async fn compliance_records_the_four_factors_and_a_determination() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    let id = opened(&app, &admin).await;

    let response = app
        .json_as(
            &compliance,
            Method::PUT,
            &format!("/api/security/incidents/{id}/risk-assessment"),
            &assessment(),
        )
        .await;

    assert_eq!(
        response.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let incident = &response.json()["incident"];
    assert_eq!(incident["determination"], "LOW_PROBABILITY_OF_COMPROMISE");
    assert_eq!(
        incident["riskAssessment"]["mitigation"],
        assessment()["mitigation"]
    );
    let audited: Vec<Value> = app
        .audit_events(admin.organization_id)
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "SECURITY_INCIDENT_RISK_ASSESSMENT")
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(
        audited,
        [json!({"determination": "LOW_PROBABILITY_OF_COMPROMISE"})]
    );
}

#[tokio::test]
async fn a_missing_factor_or_unknown_determination_is_refused_and_nothing_stored() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    let id = opened(&app, &admin).await;
    let path = format!("/api/security/incidents/{id}/risk-assessment");

    for field in [
        "natureAndExtent",
        "unauthorizedPerson",
        "acquiredOrViewed",
        "mitigation",
        "determination",
    ] {
        let mut body = assessment();
        body.as_object_mut().expect("object").remove(field);
        let response = app.json_as(&compliance, Method::PUT, &path, &body).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{field}");
        assert!(response.json()["details"][field].is_string(), "{field}");
    }
    let mut body = assessment();
    body["determination"] = json!("MAYBE");
    let response = app.json_as(&compliance, Method::PUT, &path, &body).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);

    let detail = app
        .get_as(&compliance, &format!("/api/security/incidents/{id}"))
        .await
        .json();
    assert!(detail["incident"]["riskAssessment"].is_null());
}

#[tokio::test]
async fn the_admin_may_not_assess() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let id = opened(&app, &admin).await;

    let response = app
        .json_as(
            &admin,
            Method::PUT,
            &format!("/api/security/incidents/{id}/risk-assessment"),
            &assessment(),
        )
        .await;

    assert_eq!(response.status, StatusCode::FORBIDDEN);
}
