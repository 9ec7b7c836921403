//! `GET /api/admin/btg/grants`: by status, names for admins and ids only for compliance.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::btg::{audited, expire, grant_id, list, patient, text};

#[tokio::test]
async fn compliance_sees_grants_with_patient_ids_only_and_no_phi_read_is_recorded() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    let patient = patient(&app, &admin, "BTG-2").await;
    grant_id(&app, &admin, &clinician, &patient).await;

    let all = list(&app, &compliance, "all").await;

    assert_eq!(all["count"], 1);
    assert_eq!(all["grants"][0]["patient"], json!({ "id": patient }));
    assert_eq!(all["grants"][0]["grantedToUser"]["id"], json!(clinician.id));
    assert!(!all.to_string().contains("Achterberg") && !all.to_string().contains("BTG-2"));
    assert!(
        audited(&app, admin.organization_id, "PATIENT_LIST")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn lists_filter_by_status_and_revocation_answers_the_spec_message() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let first = patient(&app, &admin, "BTG-3").await;
    let second = patient(&app, &admin, "BTG-4").await;
    let revoked = grant_id(&app, &admin, &clinician, &first).await;
    let lapsed = grant_id(&app, &admin, &clinician, &second).await;
    expire(&app, &lapsed).await;

    let revoke = app
        .json_as(
            &admin,
            Method::POST,
            &format!("/api/admin/btg/grants/{revoked}/revoke"),
            &json!({ "reason": "Emergency over; patient stable" }),
        )
        .await;

    assert_eq!(revoke.status, StatusCode::OK, "{}", text(&revoke));
    assert_eq!(
        revoke.json(),
        json!({ "success": true, "message": "Emergency access revoked successfully" })
    );
    assert_eq!(list(&app, &admin, "active").await["count"], 0);
    let revoked_list = list(&app, &admin, "revoked").await;
    assert_eq!(revoked_list["count"], 1);
    assert_eq!(revoked_list["grants"][0]["id"], revoked.as_str());
    assert_eq!(
        revoked_list["grants"][0]["revokedReason"],
        "Emergency over; patient stable"
    );
    assert!(revoked_list["grants"][0]["revokedAt"].is_string());
    let expired = list(&app, &admin, "expired").await;
    assert_eq!(expired["count"], 1);
    assert_eq!(expired["grants"][0]["id"], lapsed.as_str());
    assert_eq!(list(&app, &admin, "all").await["count"], 2);
    let rows = audited(&app, admin.organization_id, "BTG_REVOKE_ACCESS").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1.as_deref(), Some(revoked.as_str()));
}

#[tokio::test]
async fn a_status_outside_the_list_is_a_400() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;

    let response = app
        .get_as(&admin, "/api/admin/btg/grants?status=pending")
        .await;
    let limit = app.get_as(&admin, "/api/admin/btg/grants?limit=1000").await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(response.json()["details"]["status"].is_string());
    assert_eq!(limit.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_grant_list_keeps_its_shape() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let patient = patient(&app, &admin, "BTG-1").await;
    grant_id(&app, &admin, &clinician, &patient).await;

    let active = list(&app, &admin, "active").await;

    insta::assert_json_snapshot!(active, {
        ".grants[].id" => "[id]",
        ".grants[].patient.id" => "[id]",
        ".grants[].grantedByUser.id" => "[id]",
        ".grants[].grantedByUser.email" => "[email]",
        ".grants[].grantedToUser.id" => "[id]",
        ".grants[].grantedToUser.email" => "[email]",
        ".grants[].createdAt" => "[timestamp]",
        ".grants[].expiresAt" => "[timestamp]",
    });
}
