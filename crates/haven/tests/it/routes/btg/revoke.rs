//! `POST /api/admin/btg/grants/{id}/revoke`: a reason, an active grant, once.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::btg::{audited, expire, grant_id, patient};
use crate::fixtures::post;

#[tokio::test]
async fn revoking_needs_a_reason_and_an_active_grant() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let first = patient(&app, &admin, "NEG-5").await;
    let second = patient(&app, &admin, "NEG-6").await;
    let active = grant_id(&app, &admin, &clinician, &first).await;
    let lapsed = grant_id(&app, &admin, &clinician, &second).await;
    expire(&app, &lapsed).await;
    let revoke = |id: &str| format!("/api/admin/btg/grants/{id}/revoke");

    let no_body = post(&app, &admin, &revoke(&active), json!({})).await;
    let blank = post(&app, &admin, &revoke(&active), json!({ "reason": "   " })).await;
    let by_clinician = post(
        &app,
        &clinician,
        &revoke(&active),
        json!({ "reason": "I am done" }),
    )
    .await;
    let expired = post(
        &app,
        &admin,
        &revoke(&lapsed),
        json!({ "reason": "Too late" }),
    )
    .await;
    let first_time = post(
        &app,
        &admin,
        &revoke(&active),
        json!({ "reason": "Resolved" }),
    )
    .await;
    let second_time = post(
        &app,
        &admin,
        &revoke(&active),
        json!({ "reason": "Resolved" }),
    )
    .await;
    let bad_id = post(&app, &admin, &revoke("nope"), json!({ "reason": "x" })).await;

    assert_eq!(no_body.status, StatusCode::BAD_REQUEST);
    assert!(no_body.json()["details"]["reason"].is_string());
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert_eq!(by_clinician.status, StatusCode::FORBIDDEN);
    assert_eq!(expired.status, StatusCode::CONFLICT);
    assert_eq!(expired.error_code(), "INVALID_STATE");
    assert_eq!(first_time.status, StatusCode::OK);
    assert_eq!(second_time.status, StatusCode::CONFLICT);
    assert_eq!(second_time.error_code(), "INVALID_STATE");
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        audited(&app, admin.organization_id, "BTG_REVOKE_ACCESS")
            .await
            .len(),
        1
    );
}
