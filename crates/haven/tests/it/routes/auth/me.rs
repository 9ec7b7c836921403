//! `GET /api/auth/me`: the caller, and junk credentials refused.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use haven::domain::Role;
use haven_testkit::{TestApp, request};
use serde_json::json;

#[tokio::test]
async fn me_describes_the_caller() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Compliance).await;

    let response = app.get_as(&user, "/api/auth/me").await;

    assert_eq!(response.status, StatusCode::OK);
    let me = &response.json()["user"];
    assert_eq!(me["id"], json!(user.id));
    assert_eq!(me["role"], "COMPLIANCE");
    assert_eq!(me["organizationId"], json!(user.organization_id));
}

#[tokio::test]
async fn junk_credentials_are_401s() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Admin).await;
    let mut tampered = user.token.clone();
    tampered.insert(tampered.len() / 2, 'x');
    for value in [
        "".to_owned(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Basic dXNlcjpwYXNz".to_owned(),
        "Bearer not.a.jwt".to_owned(),
        format!("Bearer {tampered}"),
        format!("Bearer {}", "a".repeat(8000)),
    ] {
        let mut req = request(Method::GET, "/api/auth/me", Body::empty());
        if let Ok(v) = value.parse() {
            req.headers_mut().insert(header::AUTHORIZATION, v);
        }
        let response = app.send(req).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{value:.40}");
        assert_eq!(response.error_code(), "UNAUTHENTICATED");
    }
    let mut binary = request(Method::GET, "/api/auth/me", Body::empty());
    binary.headers_mut().insert(
        header::AUTHORIZATION,
        header::HeaderValue::from_bytes(b"Bearer \xff\xfe").expect("opaque bytes"),
    );
    assert_eq!(app.send(binary).await.status, StatusCode::UNAUTHORIZED);
}
