//! Reviewing emergency access: COMPLIANCE, or an ADMIN who neither granted nor holds the grant;
//! once per grant.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::{TestApp, TestResponse, TestUser};
use serde_json::{Value, json};

use crate::fixtures::btg::{audited, grant_id, list, patient, text};

async fn review(app: &TestApp, user: &TestUser, id: &str, body: Value) -> TestResponse {
    let path = format!("/api/admin/btg/grants/{id}/review");
    app.json_as(user, Method::POST, &path, &body).await
}

#[tokio::test]
async fn compliance_or_an_uninvolved_admin_reviews_once_and_the_grantor_may_not() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let other_admin = app.user_in(admin.organization_id, Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    let first_patient = patient(&app, &admin, "BTG-5").await;
    let first = grant_id(&app, &admin, &clinician, &first_patient).await;

    let by_grantor = review(&app, &admin, &first, json!({ "outcome": "appropriate" })).await;
    let by_grantee = review(
        &app,
        &clinician,
        &first,
        json!({ "outcome": "appropriate" }),
    )
    .await;
    let by_compliance = review(
        &app,
        &compliance,
        &first,
        json!({ "outcome": "appropriate", "notes": "ER record confirms the emergency" }),
    )
    .await;
    let again = review(
        &app,
        &other_admin,
        &first,
        json!({ "outcome": "inappropriate", "notes": "Second opinion" }),
    )
    .await;

    assert_eq!(by_grantor.status, StatusCode::FORBIDDEN);
    assert_eq!(by_grantee.status, StatusCode::FORBIDDEN);
    assert_eq!(
        by_compliance.status,
        StatusCode::OK,
        "{}",
        text(&by_compliance)
    );
    assert_eq!(by_compliance.json()["success"], true);
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "INVALID_STATE");
    let listed = list(&app, &compliance, "all").await;
    assert_eq!(listed["grants"][0]["reviewOutcome"], "appropriate");
    assert!(listed["grants"][0]["reviewedAt"].is_string());
    let rows = audited(&app, admin.organization_id, "BTG_REVIEW").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].3["outcome"], "appropriate");

    let second_patient = patient(&app, &admin, "BTG-6").await;
    let second = grant_id(&app, &admin, &clinician, &second_patient).await;
    let without_notes = review(
        &app,
        &other_admin,
        &second,
        json!({ "outcome": "inappropriate" }),
    )
    .await;
    let unknown = review(&app, &other_admin, &second, json!({ "outcome": "fine" })).await;
    let uninvolved = review(
        &app,
        &other_admin,
        &second,
        json!({ "outcome": "inappropriate", "notes": "No emergency on record" }),
    )
    .await;
    assert_eq!(without_notes.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(!text(&unknown).contains("fine"), "input is not echoed");
    assert_eq!(uninvolved.status, StatusCode::OK, "{}", text(&uninvolved));
}
