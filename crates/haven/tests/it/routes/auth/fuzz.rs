//! Every auth endpoint, fed wrong types, missing fields, huge strings, non-UTF-8 and junk:
//! a 4xx envelope whenever it is refused, never a 5xx.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use haven::domain::Role;
use haven_testkit::{TestApp, request};
use serde_json::{Value, json};

const ENDPOINTS: &[(&str, bool)] = &[
    ("/api/auth/login", false),
    ("/api/auth/refresh", false),
    ("/api/auth/logout", true),
    ("/api/auth/password", true),
    ("/api/auth/mfa/setup", true),
    ("/api/auth/mfa/confirm", true),
    ("/api/auth/mfa/disable", true),
    ("/api/admin/organizations", true),
    ("/api/users", true),
];

fn payloads() -> Vec<Vec<u8>> {
    let huge = "A".repeat(60_000);
    let values: Vec<Value> = vec![
        json!(null),
        json!(17),
        json!("string"),
        json!([]),
        json!({}),
        json!({ "email": [], "password": {} }),
        json!({ "email": 1, "password": 2, "mfaCode": 3, "session": 4 }),
        json!({ "email": huge, "password": huge }),
        json!({ "refreshToken": huge }),
        json!({ "refreshToken": 12 }),
        json!({ "currentPassword": null, "newPassword": true }),
        json!({ "code": { "nested": [1, 2, 3] } }),
        json!({ "password": "x", "code": "\u{0000}\u{202e}" }),
        json!({ "name": "\u{0007}", "adminEmail": "@", "adminPassword": "", "adminFirstName": "", "adminLastName": "" }),
        json!({ "email": "a@b.co", "password": "p", "role": "ROOT", "firstName": 1, "lastName": [] }),
    ];
    let mut raw: Vec<Vec<u8>> = values.iter().map(|v| v.to_string().into_bytes()).collect();
    raw.push(vec![0xff, 0xfe, 0xfd]);
    raw.push(b"{\"email\": \"\xc3\x28\"}".to_vec());
    raw.push(b"{{{{".to_vec());
    raw.push(Vec::new());
    raw
}

/// A new login of `email`: its access token.
async fn new_session(app: &TestApp, email: &str) -> String {
    let login = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": email, "password": haven_testkit::PASSWORD }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    login.json()["token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn no_auth_endpoint_answers_5xx_to_garbage() {
    let mut settings = haven::app::Settings::development();
    settings.auth.auth_rate_limit = 100_000;
    let app = TestApp::with_settings(settings).await;
    let user = app.org_with("Practice A", Role::Admin).await;
    let mut checked = 0;
    for (path, _) in ENDPOINTS {
        for payload in payloads() {
            // Logout ends the session it is sent with, whatever its body: it gets a session of
            // its own each time, so that the endpoints after it are still fuzzed past
            // authentication with a live token.
            let token = if *path == "/api/auth/logout" {
                new_session(&app, &user.email).await
            } else {
                user.token.clone()
            };
            for authorization in [
                None,
                Some(format!("Bearer {token}")),
                Some("Bearer \u{1}garbage".to_owned()),
            ] {
                let mut req = request(Method::POST, path, Body::from(payload.clone()));
                req.headers_mut().insert(
                    header::CONTENT_TYPE,
                    "application/json".parse().expect("header"),
                );
                if let Some(value) = authorization.as_deref().and_then(|a| a.parse().ok()) {
                    req.headers_mut().insert(header::AUTHORIZATION, value);
                }
                let response = app.send(req).await;
                // Some endpoints ignore their body (logout, MFA setup): success is fine there.
                if response.status.is_success() {
                    checked += 1;
                    continue;
                }
                assert!(
                    response.status.is_client_error(),
                    "{path} {:?} -> {}",
                    String::from_utf8_lossy(&payload)
                        .chars()
                        .take(60)
                        .collect::<String>(),
                    response.status
                );
                let body = response.json();
                assert_eq!(body["success"], false);
                assert!(body["error"].is_string() && body["message"].is_string());
                checked += 1;
            }
        }
    }
    assert_eq!(checked, ENDPOINTS.len() * payloads().len() * 3);
    // The admin's own session survived all of it (no lockout of a signed-in user by garbage).
    assert_eq!(
        app.get_as(&user, "/api/auth/me").await.status,
        StatusCode::OK
    );
}
