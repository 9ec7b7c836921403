//! `GET /api/realtime?ticket=&since=`: the upgrade and its refusals.

use std::time::Duration;

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;

use crate::fixtures::realtime::{ORIGIN, connect, next_within, open_with, serve, ticket};

#[tokio::test]
async fn a_ticket_opens_one_socket_once_and_connect_and_disconnect_are_audited() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let ticket = ticket(&app, &admin).await;

    let mut socket = open_with(&live, &format!("ticket={ticket}"), ORIGIN)
        .await
        .expect("the first use upgrades");
    let again = open_with(&live, &format!("ticket={ticket}"), ORIGIN).await;

    let (status, body) = again.expect_err("the second use is refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "UNAUTHENTICATED");
    assert_eq!(body["success"], false);
    assert!(app.audited(admin.organization_id, "REALTIME_CONNECT").await);
    socket.close(None).await.expect("closing");
    let mut disconnected = false;
    for _ in 0..100 {
        if app
            .audited(admin.organization_id, "REALTIME_DISCONNECT")
            .await
        {
            disconnected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(disconnected, "REALTIME_DISCONNECT is audited");
    assert_eq!(app.state().realtime().connections(), 0);
}

#[tokio::test]
async fn an_expired_ticket_is_refused() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let ticket = ticket(&app, &admin).await;
    let pool = app.db().owner_pool().await;
    sqlx::query(
        "UPDATE realtime_tickets SET created_at = now() - interval '2 minutes', \
         expires_at = now() - interval '90 seconds'",
    )
    .execute(&pool)
    .await
    .expect("ageing the ticket");

    let refused = open_with(&live, &format!("ticket={ticket}"), ORIGIN).await;

    let (status, body) = refused.expect_err("refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_token_or_any_other_parameter_in_the_query_is_refused_without_echoing_it() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let ticket = ticket(&app, &admin).await;

    for query in [
        format!("access_token={}", admin.token),
        format!("ticket={}", admin.token),
        format!("ticket={ticket}&token={}", admin.token),
        String::new(),
        format!("ticket={ticket}&since=yesterday"),
    ] {
        let response = app.get(&format!("/api/realtime?{query}")).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(response.error_code(), "VALIDATION_ERROR");
        let body = String::from_utf8_lossy(&response.body).into_owned();
        assert!(!body.contains(&admin.token), "the token is never echoed");
    }
}

#[tokio::test]
async fn a_foreign_origin_is_refused_before_the_ticket_is_spent() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let ticket = ticket(&app, &admin).await;

    let refused = open_with(&live, &format!("ticket={ticket}"), "https://evil.example").await;

    let (status, body) = refused.expect_err("refused");
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "FORBIDDEN");
    assert!(
        open_with(&live, &format!("ticket={ticket}"), ORIGIN)
            .await
            .is_ok(),
        "the ticket still works from the allowed origin"
    );
}

#[tokio::test]
async fn a_plain_get_is_not_an_upgrade_and_keeps_the_ticket() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let ticket = ticket(&app, &admin).await;
    let mut request = haven_testkit::request(
        axum::http::Method::GET,
        &format!("/api/realtime?ticket={ticket}"),
        axum::body::Body::empty(),
    );
    request
        .headers_mut()
        .insert("origin", ORIGIN.parse().expect("origin"));

    let response = app.send(request).await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.error_code(), "VALIDATION_ERROR");
    assert!(
        open_with(&live, &format!("ticket={ticket}"), ORIGIN)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_sixth_socket_of_one_user_is_refused_with_429_and_others_are_unaffected() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let colleague = app.user_in(admin.organization_id, Role::Admin).await;
    let mut open = Vec::new();
    for _ in 0..5 {
        open.push(connect(&app, &live, &admin, None).await);
    }

    let ticket = ticket(&app, &admin).await;
    let sixth = open_with(&live, &format!("ticket={ticket}"), ORIGIN).await;

    let (status, body) = sixth.expect_err("refused");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"], "RATE_LIMITED");
    let _other = connect(&app, &live, &colleague, None).await;
    assert_eq!(app.state().realtime().connections_of(admin.id), 5);
    assert!(
        next_within(&mut open[0], Duration::from_millis(200))
            .await
            .is_none()
    );
}
