//! `GET /health`, and the security headers every response carries.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::json;

#[tokio::test]
async fn health_answers_ok_without_touching_anything() {
    let app = TestApp::new().await;

    let response = app.get("/health").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({ "status": "ok" }));
    assert!(response.header("x-request-id").is_some());
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::new().await;

    for response in [app.get("/health").await, app.get("/api/nothing").await] {
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
        assert!(
            response
                .header("content-security-policy")
                .is_some_and(|csp| csp.contains("default-src 'none'"))
        );
    }
}
