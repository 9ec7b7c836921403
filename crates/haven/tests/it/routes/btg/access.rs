//! `/api/admin/btg`: only admins grant (other roles get an audited 403); another practice's
//! users, patients and grants are 404, and the attempts are audited
//! `CROSS_TENANT_ACCESS_ATTEMPT` naming both organizations.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::btg::{WHY, grant, grant_id, grants_in_db, patient, text};
use crate::fixtures::post;

#[tokio::test]
async fn only_admins_grant_and_other_roles_get_an_audited_403() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let patient = patient(&app, &admin, "NEG-1").await;
    let org = admin.organization_id;
    let target = app.user_in(org, Role::Clinician).await;

    for role in [Role::Clinician, Role::Billing, Role::Compliance] {
        let user = app.user_in(org, role).await;
        let response = grant(&app, &user, &target, &patient, 60).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{role}");
        assert_eq!(response.error_code(), "FORBIDDEN");
    }
    for role in [Role::Clinician, Role::Billing] {
        let user = app.user_in(org, role).await;
        let listed = app.get_as(&user, "/api/admin/btg/grants").await;
        assert_eq!(listed.status, StatusCode::FORBIDDEN, "{role} lists");
    }
    assert_eq!(grants_in_db(&app).await, 0);
    let denied = app.audit_events(org).await;
    assert!(
        denied
            .iter()
            .filter(|(a, _, d)| a == "ACCESS_DENIED" && d["operation"] == "create_btg_grant")
            .count()
            == 3
    );
}

#[tokio::test]
async fn unknown_and_foreign_users_patients_and_grants_are_404_and_foreign_ones_audited() {
    let app = TestApp::new().await;
    let admin_a = app.org_with("Practice A", Role::Admin).await;
    let admin_b = app.org_with("Practice B", Role::Admin).await;
    let clinician_a = app.user_in(admin_a.organization_id, Role::Clinician).await;
    let clinician_b = app.user_in(admin_b.organization_id, Role::Clinician).await;
    let compliance_b = app.user_in(admin_b.organization_id, Role::Compliance).await;
    let patient_a = patient(&app, &admin_a, "NEG-3").await;
    let patient_b = patient(&app, &admin_b, "NEG-4").await;
    let grant_a = grant_id(&app, &admin_a, &clinician_a, &patient_a).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let body = |user: Value, patient: &str| json!({ "grantedToUserId": user, "patientId": patient, "justification": WHY, "durationMinutes": 15 });

    let responses = [
        post(
            &app,
            &admin_b,
            "/api/admin/btg/grants",
            body(json!(clinician_a.id), &patient_b),
        )
        .await,
        post(
            &app,
            &admin_b,
            "/api/admin/btg/grants",
            body(json!(clinician_b.id), &patient_a),
        )
        .await,
        post(
            &app,
            &admin_b,
            "/api/admin/btg/grants",
            body(json!(unknown), &patient_b),
        )
        .await,
        post(
            &app,
            &admin_b,
            "/api/admin/btg/grants",
            body(json!(clinician_b.id), &unknown),
        )
        .await,
        post(
            &app,
            &admin_b,
            &format!("/api/admin/btg/grants/{grant_a}/revoke"),
            json!({ "reason": "mine now" }),
        )
        .await,
        post(
            &app,
            &compliance_b,
            &format!("/api/admin/btg/grants/{grant_a}/review"),
            json!({ "outcome": "appropriate" }),
        )
        .await,
        post(
            &app,
            &admin_b,
            &format!("/api/admin/btg/grants/{unknown}/revoke"),
            json!({ "reason": "x" }),
        )
        .await,
    ];

    for (i, response) in responses.iter().enumerate() {
        assert_eq!(
            response.status,
            StatusCode::NOT_FOUND,
            "case {i}: {}",
            text(response)
        );
        assert_eq!(response.error_code(), "NOT_FOUND");
    }
    let attempts: Vec<Value> = app
        .audit_events(admin_b.organization_id)
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "CROSS_TENANT_ACCESS_ATTEMPT")
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(
        attempts.len(),
        4,
        "the foreign user, patient and grant (twice)"
    );
    for details in &attempts {
        assert_eq!(
            details["targetOrganizationId"],
            json!(admin_a.organization_id)
        );
    }
    let listed_b = app.get_as(&admin_b, "/api/admin/btg/grants").await.json();
    assert_eq!(
        listed_b["count"], 0,
        "another practice's grants are invisible"
    );
    let listed_a = app
        .get_as(&admin_a, "/api/admin/btg/grants?status=active")
        .await
        .json();
    assert!(listed_a["grants"][0]["revokedAt"].is_null());
    assert_eq!(grants_in_db(&app).await, 1);
}
