//! `/api/security`: COMPLIANCE and ADMIN of the practice; CLINICIAN, BILLING and SCHEDULER get
//! an audited 403; another practice's incidents are 404, audited `CROSS_TENANT_ACCESS_ATTEMPT`.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::post;
use crate::fixtures::security::{incidents, opened};

#[tokio::test]
async fn clinicians_billing_and_schedulers_get_an_audited_403_everywhere() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let org = admin.organization_id;
    let id = opened(&app, &admin).await;

    for role in [Role::Clinician, Role::Billing, Role::Scheduler] {
        let user = app.user_in(org, role).await;
        let responses = [
            app.get_as(&user, "/api/security/incidents").await,
            app.get_as(&user, &format!("/api/security/incidents/{id}"))
                .await,
            post(
                &app,
                &user,
                &format!("/api/security/incidents/{id}/transition"),
                json!({"to": "INVESTIGATING"}),
            )
            .await,
            app.json_as(
                &user,
                Method::PUT,
                &format!("/api/security/incidents/{id}/risk-assessment"),
                &json!({}),
            )
            .await,
            post(
                &app,
                &user,
                &format!("/api/security/incidents/{id}/containment"),
                json!({"action": "REVOKE_SESSIONS", "reason": "x"}),
            )
            .await,
            app.get_as(&user, "/api/security/detection-rules").await,
            app.json_as(
                &user,
                Method::PUT,
                "/api/security/detection-rules/BULK_EXPORT",
                &json!({"enabled": false, "severity": "LOW"}),
            )
            .await,
        ];
        for response in responses {
            assert_eq!(response.status, StatusCode::FORBIDDEN, "{role}");
        }
    }
    assert_eq!(incidents(&app, org).await[0].status, "OPEN");
    let denied = app
        .audit_events(org)
        .await
        .into_iter()
        .filter(|(a, _, d)| {
            a == "ACCESS_DENIED" && d["operation"] == "transition_security_incident"
        })
        .count();
    assert_eq!(denied, 3);
}

#[tokio::test]
async fn another_practice_s_incident_is_404_and_the_attempt_audited() {
    let app = TestApp::new().await;
    let admin_a = app.org_with("Practice A", Role::Admin).await;
    let admin_b = app.org_with("Practice B", Role::Admin).await;
    let compliance_b = app.user_in(admin_b.organization_id, Role::Compliance).await;
    let id = opened(&app, &admin_a).await;

    let responses = [
        app.get_as(&compliance_b, &format!("/api/security/incidents/{id}"))
            .await,
        post(
            &app,
            &compliance_b,
            &format!("/api/security/incidents/{id}/transition"),
            json!({"to": "INVESTIGATING"}),
        )
        .await,
        post(
            &app,
            &admin_b,
            &format!("/api/security/incidents/{id}/containment"),
            json!({"action": "DISABLE_USER", "reason": "x"}),
        )
        .await,
        app.json_as(
            &compliance_b,
            Method::PUT,
            &format!("/api/security/incidents/{id}/risk-assessment"),
            &json!({"natureAndExtent": "a", "unauthorizedPerson": "b", "acquiredOrViewed": "c",
                    "mitigation": "d", "determination": "BREACH"}),
        )
        .await,
    ];

    for response in responses {
        assert_eq!(response.status, StatusCode::NOT_FOUND);
    }
    let listed = app
        .get_as(&compliance_b, "/api/security/incidents")
        .await
        .json();
    assert_eq!(listed["pagination"]["total"], 0);
    assert_eq!(
        incidents(&app, admin_a.organization_id).await[0].status,
        "OPEN"
    );
    let attempts = app
        .audit_events(admin_b.organization_id)
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "CROSS_TENANT_ACCESS_ATTEMPT")
        .collect::<Vec<_>>();
    assert_eq!(attempts.len(), 4, "{attempts:?}");
}

#[tokio::test]
async fn a_practice_s_incidents_are_not_the_platform_operator_s() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let operator = app.user_in(admin.organization_id, Role::SuperAdmin).await;
    opened(&app, &admin).await;

    let listed = app.get_as(&operator, "/api/security/incidents").await;

    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json()["pagination"]["total"], 0);
}
