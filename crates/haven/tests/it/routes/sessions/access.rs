//! `/api/sessions`: what each role may do, and another practice on every endpoint.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::post;
use crate::fixtures::units::{
    assert_ledger_balanced, audited, authorization, get_authorization, ledger_rows, patient,
    practice, reserve, reserved,
};

#[tokio::test]
async fn another_practice_reserving_on_an_authorization_id_gets_404_and_debits_nothing() {
    let app = TestApp::new().await;
    let a = practice(&app, "Practice A").await;
    let b = practice(&app, "Practice B").await;
    let auth = authorization(&app, &a.admin, &a.patient, 10).await;
    let session = reserved(&app, &a.admin, &auth, 2).await;

    let attack = reserve(&app, &b.admin, &auth, 5).await;

    assert_eq!(attack.status, StatusCode::NOT_FOUND);
    assert_eq!(attack.error_code(), "NOT_FOUND");
    assert_eq!(
        get_authorization(&app, &a.admin, &auth).await["usedUnits"],
        2
    );
    assert_eq!(ledger_rows(&app, &auth).await.len(), 1);
    let attempts = audited(&app, b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT").await;
    assert_eq!(
        attempts,
        vec![json!({
            "callerOrganizationId": b.admin.organization_id,
            "targetOrganizationId": a.admin.organization_id,
        })]
    );
    let owner = app.db().owner_pool().await;
    let entity: String = sqlx::query_scalar(
        "SELECT entity_id FROM audit_outbox WHERE action = 'CROSS_TENANT_ACCESS_ATTEMPT' \
         UNION ALL SELECT entity_id FROM audit_log WHERE action = 'CROSS_TENANT_ACCESS_ATTEMPT'",
    )
    .fetch_one(&owner)
    .await
    .expect("attempt");
    assert_eq!(entity, auth, "the attempted id is named");
    for (path, body) in [
        (format!("/api/sessions/{session}/start"), json!({})),
        (
            format!("/api/sessions/{session}/complete"),
            json!({ "actualUnits": 9 }),
        ),
        (
            format!("/api/sessions/{session}/cancel"),
            json!({ "reason": "x" }),
        ),
    ] {
        assert_eq!(
            post(&app, &b.admin, &path, body).await.status,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        app.get_as(&b.admin, &format!("/api/sessions/{session}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get_as(&b.admin, "/api/sessions").await.json()["pagination"]["total"],
        0
    );
    assert_eq!(
        audited(&app, b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
            .len(),
        5
    );
    assert_ledger_balanced(&app, a.admin.organization_id).await;
}

#[tokio::test]
async fn clinicians_act_on_care_team_patients_billing_on_all_compliance_on_none() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let org = p.admin.organization_id;
    let clinician = app.user_in(org, Role::Clinician).await;
    let billing = app.user_in(org, Role::Billing).await;
    let compliance = app.user_in(org, Role::Compliance).await;
    let other = patient(&app, &p.admin, "MRN-2").await;
    let mine = authorization(&app, &p.admin, &p.patient, 10).await;
    let theirs = authorization(&app, &p.admin, &other, 10).await;
    post(
        &app,
        &p.admin,
        &format!("/api/patients/{}/care-team", p.patient),
        json!({ "userId": clinician.id }),
    )
    .await;

    let own = reserve(&app, &clinician, &mine, 1).await;
    assert_eq!(own.status, StatusCode::CREATED);
    assert_eq!(own.json()["session"]["clinicianId"], json!(clinician.id));
    let hidden = reserve(&app, &clinician, &theirs, 1).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let by_billing = reserve(&app, &billing, &theirs, 1).await;
    assert_eq!(by_billing.status, StatusCode::CREATED);
    let billing_session = by_billing.json()["session"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let denied = post(
        &app,
        &clinician,
        &format!("/api/sessions/{billing_session}/cancel"),
        json!({ "reason": "x" }),
    )
    .await;
    assert_eq!(denied.status, StatusCode::NOT_FOUND);
    let refused = reserve(&app, &compliance, &mine, 1).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get_as(&compliance, "/api/sessions").await.status,
        StatusCode::FORBIDDEN
    );
    let clinician_list = app.get_as(&clinician, "/api/sessions").await.json();
    assert_eq!(clinician_list["pagination"]["total"], 1);
    assert_eq!(
        app.get_as(&billing, "/api/sessions").await.json()["pagination"]["total"],
        2
    );
    assert_eq!(
        get_authorization(&app, &p.admin, &theirs).await["usedUnits"],
        1,
        "the hidden attempt debited nothing"
    );
    let denials = audited(&app, org, "ACCESS_DENIED").await;
    assert!(
        denials
            .iter()
            .filter(|d| d["reason"] == "not_on_care_team")
            .count()
            >= 2
    );
}
