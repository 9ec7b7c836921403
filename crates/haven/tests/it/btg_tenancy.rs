//! Break-the-glass across practices: another practice's users, patients and grants are 404,
//! and the attempts are audited `CROSS_TENANT_ACCESS_ATTEMPT` naming both organizations.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::btg::{WHY, grant_id, patient, text};
use crate::btg_input::{grants_in_db, post};

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
