//! `POST /api/realtime/tickets`.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn a_ticket_is_issued_single_use_for_30_seconds_stored_hashed_and_audited() {
    let app = TestApp::new().await;
    let clinician = app.org_with("Practice A", Role::Clinician).await;

    let response = app
        .json_as(
            &clinician,
            Method::POST,
            "/api/realtime/tickets",
            &json!({}),
        )
        .await;

    assert_eq!(response.status, StatusCode::CREATED);
    let body = response.json();
    let ticket = body["ticket"].as_str().expect("ticket");
    assert!(ticket.starts_with("hrt_") && ticket.len() == 47, "{ticket}");
    assert_eq!(body["url"], "/api/realtime");
    let expires: chrono::DateTime<chrono::Utc> = body["expiresAt"]
        .as_str()
        .expect("expiresAt")
        .parse()
        .expect("instant");
    let left = expires - chrono::Utc::now();
    assert!(left <= chrono::Duration::seconds(30) && left > chrono::Duration::seconds(20));
    let pool = app.db().owner_pool().await;
    let (hash, user, used): (Vec<u8>, uuid::Uuid, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT token_hash, user_id, used_at FROM realtime_tickets")
            .fetch_one(&pool)
            .await
            .expect("one stored ticket");
    assert_eq!(hash, Sha256::digest(ticket.as_bytes()).to_vec());
    assert_eq!(user, clinician.id.as_uuid());
    assert!(used.is_none());
    let issued = app
        .audit_events(clinician.organization_id)
        .await
        .into_iter()
        .find(|(action, _, _)| action == "REALTIME_TICKET_ISSUE")
        .expect("REALTIME_TICKET_ISSUE");
    assert!(
        !issued.2.to_string().contains(ticket),
        "the secret is never audited"
    );
}

#[tokio::test]
async fn a_ticket_needs_a_signed_in_caller() {
    let app = TestApp::new().await;

    let response = app
        .json(Method::POST, "/api/realtime/tickets", &json!({}))
        .await;

    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.error_code(), "UNAUTHENTICATED");
}

#[tokio::test]
async fn every_practice_role_gets_a_ticket_and_an_operator_inside_a_practice_gets_an_audited_403() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    for role in [
        Role::Admin,
        Role::Clinician,
        Role::Scheduler,
        Role::Billing,
        Role::Compliance,
    ] {
        let user = app.user_in(admin.organization_id, role).await;
        let response = app
            .json_as(&user, Method::POST, "/api/realtime/tickets", &json!({}))
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{role}");
    }
    let operator = app.user_in(admin.organization_id, Role::SuperAdmin).await;
    let in_platform = app
        .json_as(&operator, Method::POST, "/api/realtime/tickets", &json!({}))
        .await;
    assert_eq!(
        in_platform.status,
        StatusCode::CREATED,
        "an operator in the platform"
    );
    let mut request = haven_testkit::json_request(
        Method::POST,
        "/api/realtime/tickets",
        &json!({}),
        Some(&operator.token),
    );
    request.headers_mut().insert(
        "x-haven-organization",
        admin.organization_id.to_string().parse().expect("header"),
    );

    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert_eq!(response.error_code(), "FORBIDDEN");
    assert!(app.audited(admin.organization_id, "ACCESS_DENIED").await);
}
