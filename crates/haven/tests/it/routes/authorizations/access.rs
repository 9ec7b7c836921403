//! `/api/authorizations`: what each role may do, and another practice on every endpoint.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::post;
use crate::fixtures::units::{
    as_owner, audited, authorization, authorization_body, get_authorization, ledger_rows, patient,
    practice,
};

#[tokio::test]
async fn each_role_gets_what_spec_section_3_allows() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let org = p.admin.organization_id;
    let billing = app.user_in(org, Role::Billing).await;
    let clinician = app.user_in(org, Role::Clinician).await;
    let compliance = app.user_in(org, Role::Compliance).await;
    let other_patient = patient(&app, &p.admin, "MRN-2").await;

    let by_billing = authorization(&app, &billing, &p.patient, 20).await;
    let elsewhere = authorization(&app, &p.admin, &other_patient, 20).await;
    for user in [&clinician, &compliance] {
        let response = post(
            &app,
            user,
            "/api/authorizations",
            authorization_body(&p.patient, 5),
        )
        .await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{:?}", user.role);
    }
    assert_eq!(
        app.get_as(&compliance, "/api/authorizations").await.status,
        StatusCode::FORBIDDEN
    );
    // A clinician sees the authorizations of their care-team patients only.
    let added = post(
        &app,
        &p.admin,
        &format!("/api/patients/{}/care-team", p.patient),
        json!({ "userId": clinician.id }),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED);
    let list = app.get_as(&clinician, "/api/authorizations").await.json();
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["authorizations"][0]["id"], json!(by_billing));
    let hidden = app
        .get_as(&clinician, &format!("/api/authorizations/{elsewhere}"))
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get_as(&billing, "/api/authorizations").await.json()["pagination"]["total"],
        2
    );
    assert!(audited(&app, org, "ACCESS_DENIED").await.len() >= 3);
}

#[tokio::test]
async fn another_practice_gets_404_on_every_authorization_endpoint_and_is_audited() {
    let app = TestApp::new().await;
    let a = practice(&app, "Practice A").await;
    let b = practice(&app, "Practice B").await;
    let id = authorization(&app, &a.admin, &a.patient, 10).await;

    let read = app
        .get_as(&b.admin, &format!("/api/authorizations/{id}"))
        .await;
    let adjust = post(
        &app,
        &b.admin,
        &format!("/api/authorizations/{id}/adjust"),
        json!({ "adjustment": 5, "reason": "steal" }),
    )
    .await;
    let create = post(
        &app,
        &b.admin,
        "/api/authorizations",
        authorization_body(&a.patient, 5),
    )
    .await;

    for response in [&read, &adjust, &create] {
        assert_eq!(response.status, StatusCode::NOT_FOUND);
        assert_eq!(response.error_code(), "NOT_FOUND");
    }
    let attempts = audited(&app, b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT").await;
    assert_eq!(attempts.len(), 3);
    assert!(attempts.iter().all(
        |d| d["targetOrganizationId"] == json!(a.admin.organization_id)
            && d["callerOrganizationId"] == json!(b.admin.organization_id)
    ));
    assert_eq!(get_authorization(&app, &a.admin, &id).await["usedUnits"], 0);
    assert!(ledger_rows(&app, &id).await.is_empty());
    assert_eq!(
        app.get_as(&b.admin, "/api/authorizations").await.json()["pagination"]["total"],
        0
    );
    // A cancelled authorization refuses reservations but still reads.
    as_owner(
        &app,
        "UPDATE authorizations SET status = 'CANCELLED' WHERE id = $1::uuid",
        &id,
    )
    .await;
    assert_eq!(
        get_authorization(&app, &a.admin, &id).await["status"],
        "CANCELLED"
    );
}

#[tokio::test]
async fn a_platform_operator_in_a_practice_sees_authorizations_without_member_ids() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let id = authorization(&app, &p.admin, &p.patient, 40).await;
    let operator = app
        .user_in(haven::ids::OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;
    let mut request = haven_testkit::request(
        axum::http::Method::GET,
        &format!("/api/authorizations/{id}"),
        axum::body::Body::empty(),
    );
    for (name, value) in [
        ("authorization", format!("Bearer {}", operator.token)),
        ("x-haven-organization", p.admin.organization_id.to_string()),
    ] {
        request
            .headers_mut()
            .insert(name, value.parse().expect("header"));
    }

    let read = app.send(request).await;

    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json()["authorization"]["memberId"], "***");
    assert!(!String::from_utf8_lossy(&read.body).contains("BH-20391"));
    assert_eq!(
        get_authorization(&app, &p.admin, &id).await["memberId"],
        json!("BH-20391"),
        "the practice's own admin still sees it"
    );
}
