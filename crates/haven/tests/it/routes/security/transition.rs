//! `POST /api/security/incidents/{id}/transition`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::post;
use crate::fixtures::security::{incidents, opened};

#[tokio::test]
async fn compliance_walks_the_workflow_and_each_step_is_recorded() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    let id = opened(&app, &admin).await;
    let path = format!("/api/security/incidents/{id}/transition");

    for to in [
        "INVESTIGATING",
        "CONTAINED",
        "CONFIRMED_BREACH",
        "NOTIFIED",
        "CLOSED",
    ] {
        let response = post(
            &app,
            &compliance,
            &path,
            json!({"to": to, "note": "checked"}),
        )
        .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{to}: {}",
            String::from_utf8_lossy(&response.body)
        );
        assert_eq!(response.json()["incident"]["status"], to);
        assert_eq!(
            response.json()["incident"]["assigneeId"],
            compliance.id.to_string()
        );
    }

    let detail = app
        .get_as(&compliance, &format!("/api/security/incidents/{id}"))
        .await
        .json();
    let transitions: Vec<_> = detail["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "TRANSITION")
        .map(|e| (e["fromStatus"].clone(), e["toStatus"].clone()))
        .collect();
    assert_eq!(transitions.len(), 5);
    assert_eq!(transitions[0], (json!("OPEN"), json!("INVESTIGATING")));
    assert_eq!(
        app.audit_events(admin.organization_id)
            .await
            .iter()
            .filter(|(a, _, _)| a == "SECURITY_INCIDENT_TRANSITION")
            .count(),
        5
    );
    // The history is append-only, even for the owner.
    let owner = app.db().owner_pool().await;
    let refused = sqlx::query("DELETE FROM security_incident_events WHERE incident_id = $1::uuid")
        .bind(&id)
        .execute(&owner)
        .await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_step_out_of_order_is_409_and_changes_nothing() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    let id = opened(&app, &admin).await;
    let path = format!("/api/security/incidents/{id}/transition");

    let skipped = post(&app, &compliance, &path, json!({"to": "CLOSED"})).await;
    let backwards = post(&app, &compliance, &path, json!({"to": "OPEN"})).await;

    for response in [&skipped, &backwards] {
        assert_eq!(response.status, StatusCode::CONFLICT);
        assert_eq!(response.error_code(), "INVALID_STATE");
    }
    assert_eq!(
        incidents(&app, admin.organization_id).await[0].status,
        "OPEN"
    );
}

#[tokio::test]
async fn bad_bodies_are_refused_naming_the_field() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    let id = opened(&app, &admin).await;
    let path = format!("/api/security/incidents/{id}/transition");

    let unknown = post(&app, &compliance, &path, json!({"to": "SOLVED"})).await;
    let long = post(
        &app,
        &compliance,
        &path,
        json!({"to": "INVESTIGATING", "note": "x".repeat(2001)}),
    )
    .await;

    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.json()["details"]["to"].is_string());
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert!(long.json()["details"]["note"].is_string());
    assert_eq!(
        incidents(&app, admin.organization_id).await[0].status,
        "OPEN"
    );
}
