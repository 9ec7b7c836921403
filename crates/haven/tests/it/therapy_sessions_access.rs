//! `/api/sessions` beyond the life cycle: other tenants, roles, low-units alerts, list filters,
//! and two completions racing.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::units_fixtures::{
    assert_ledger_balanced, audited, authorization, get_authorization, ledger_rows, patient, post,
    practice, reserve, reserve_at, reserved,
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

#[tokio::test]
async fn low_units_are_recorded_once_per_crossing() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let org = p.admin.organization_id;
    let auth = authorization(&app, &p.admin, &p.patient, 20).await;

    reserved(&app, &p.admin, &auth, 17).await;
    let crossing = reserved(&app, &p.admin, &auth, 2).await;
    reserved(&app, &p.admin, &auth, 1).await;
    assert_eq!(audited(&app, org, "AUTHORIZATION_LOW_UNITS").await.len(), 1);
    post(
        &app,
        &p.admin,
        &format!("/api/sessions/{crossing}/cancel"),
        json!({ "reason": "rescheduled" }),
    )
    .await;
    reserved(&app, &p.admin, &auth, 2).await;

    let events = audited(&app, org, "AUTHORIZATION_LOW_UNITS").await;
    assert_eq!(events.len(), 2, "a second crossing after units came back");
    assert_eq!(events[0]["lowUnitsThreshold"], 2);
    let low = app
        .get_as(&p.admin, "/api/authorizations?lowUnits=true")
        .await
        .json();
    assert_eq!(low["pagination"]["total"], 1);
}

#[tokio::test]
async fn session_lists_filter_by_patient_authorization_status_and_time() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let auth = authorization(&app, &p.admin, &p.patient, 50).await;
    let other = authorization(&app, &p.admin, &p.patient, 50).await;
    reserve_at(&app, &p.admin, &auth, 1, -60 * 24 * 3).await;
    let today = reserved(&app, &p.admin, &auth, 1).await;
    reserve_at(&app, &p.admin, &other, 1, 60 * 24 * 3).await;
    post(
        &app,
        &p.admin,
        &format!("/api/sessions/{today}/start"),
        json!({}),
    )
    .await;

    let list = |q: String| {
        let app = &app;
        let admin = &p.admin;
        async move {
            app.get_as(admin, &format!("/api/sessions?{q}"))
                .await
                .json()
        }
    };
    let total = |v: &Value| v["pagination"]["total"].as_i64().expect("total");
    assert_eq!(total(&list(format!("authorizationId={auth}")).await), 2);
    assert_eq!(total(&list(format!("patientId={}", p.patient)).await), 3);
    let started = list("status=IN_PROGRESS".into()).await;
    assert_eq!(started["sessions"][0]["id"], json!(today));
    let window = list(format!(
        "from={}&to={}",
        crate::units_fixtures::day(-1),
        crate::units_fixtures::day(0)
    ))
    .await;
    assert_eq!(total(&window), 1);
    assert_eq!(
        app.get_as(&p.admin, "/api/sessions?from=yesterday")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn completing_twice_at_once_lets_exactly_one_win() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let auth = authorization(&app, &p.admin, &p.patient, 20).await;
    let id = reserved(&app, &p.admin, &auth, 2).await;
    let path = format!("/api/sessions/{id}/complete");

    let (one, two) = tokio::join!(
        post(&app, &p.admin, &path, json!({ "actualUnits": 3 })),
        post(&app, &p.admin, &path, json!({ "actualUnits": 3 })),
    );

    let mut statuses = [one.status.as_u16(), two.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    assert!([one, two].iter().any(|r| r.error_code() == "INVALID_STATE"));
    assert_eq!(
        get_authorization(&app, &p.admin, &auth).await["usedUnits"],
        3
    );
    assert_ledger_balanced(&app, p.admin.organization_id).await;
}
