//! `GET /api/security/incidents` and `GET /api/security/incidents/{id}`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;

use crate::fixtures::security::opened;

#[tokio::test]
async fn compliance_lists_filters_and_reads_an_incident_with_its_history() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    let id = opened(&app, &admin).await;

    let all = app.get_as(&compliance, "/api/security/incidents").await;
    let high = app
        .get_as(
            &compliance,
            "/api/security/incidents?severity=HIGH&status=OPEN&ruleKind=EXCESSIVE_PHI_ACCESS",
        )
        .await;
    let low = app
        .get_as(&compliance, "/api/security/incidents?severity=LOW")
        .await;
    let later = app
        .get_as(&compliance, "/api/security/incidents?from=2100-01-01")
        .await;
    let one = app
        .get_as(&compliance, &format!("/api/security/incidents/{id}"))
        .await;

    assert_eq!(all.status, StatusCode::OK);
    let body = all.json();
    assert_eq!(body["pagination"]["total"], 1);
    let incident = &body["incidents"][0];
    assert_eq!(incident["id"], id.as_str());
    assert_eq!(incident["ruleKind"], "EXCESSIVE_PHI_ACCESS");
    assert_eq!(incident["subjectUserId"], admin.id.to_string());
    assert_eq!(incident["affectedPatientCount"], 21);
    assert_eq!(incident["mediaNoticeRequired"], false);
    let discovered =
        chrono::DateTime::parse_from_rfc3339(incident["discoveredAt"].as_str().expect("at"))
            .expect("discoveredAt");
    let deadline = chrono::DateTime::parse_from_rfc3339(
        incident["notificationDeadline"].as_str().expect("deadline"),
    )
    .expect("notificationDeadline");
    assert_eq!(deadline - discovered, chrono::Duration::days(60));
    assert_eq!(high.json()["pagination"]["total"], 1);
    assert_eq!(low.json()["pagination"]["total"], 0);
    assert_eq!(later.json()["pagination"]["total"], 0);
    assert_eq!(one.status, StatusCode::OK);
    let detail = one.json();
    assert_eq!(detail["incident"]["id"], id.as_str());
    assert_eq!(detail["events"][0]["kind"], "DETECTED");
}

#[tokio::test]
async fn the_admin_reads_incidents_too() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let id = opened(&app, &admin).await;

    let one = app
        .get_as(&admin, &format!("/api/security/incidents/{id}"))
        .await;

    assert_eq!(one.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_filters_are_refused_naming_the_field() {
    let app = TestApp::new().await;
    let compliance = app.org_with("Practice A", Role::Compliance).await;

    for (query, field) in [
        ("status=SOMETIMES", "status"),
        ("severity=EXTREME", "severity"),
        ("ruleKind=NOPE", "ruleKind"),
        ("from=yesterday", "from"),
        ("from=2027-01-02&to=2027-01-01", "to"),
        ("limit=500", "limit"),
    ] {
        let response = app
            .get_as(&compliance, &format!("/api/security/incidents?{query}"))
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(response.error_code(), "VALIDATION_ERROR");
        assert!(
            response.json()["details"][field].is_string(),
            "{query}: {}",
            String::from_utf8_lossy(&response.body)
        );
    }
}

#[tokio::test]
async fn an_unknown_incident_is_404() {
    let app = TestApp::new().await;
    let compliance = app.org_with("Practice A", Role::Compliance).await;

    let response = app
        .get_as(
            &compliance,
            &format!("/api/security/incidents/{}", uuid::Uuid::now_v7()),
        )
        .await;

    assert_eq!(response.status, StatusCode::NOT_FOUND);
}
