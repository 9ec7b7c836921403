//! Cookie sessions and CSRF: unsafe requests authenticated by cookie need the CSRF token; bearer
//! requests do not.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use haven::domain::Role;
use haven_testkit::{PASSWORD, TestApp, json_request, request};
use serde_json::json;

#[tokio::test]
async fn cookie_sessions_need_the_csrf_token_on_unsafe_requests() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    let login = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": user.email, "password": PASSWORD, "session": "cookie" }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    let body = login.json();
    assert!(
        body.get("token").is_none() && body.get("refreshToken").is_none(),
        "{body}"
    );
    let csrf = body["csrfToken"].as_str().expect("csrf token").to_owned();
    let cookies: Vec<&str> = login
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert_eq!(cookies.len(), 2);
    for cookie in &cookies {
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
    }
    let jar: String = cookies
        .iter()
        .map(|c| c.split(';').next().expect("pair"))
        .collect::<Vec<_>>()
        .join("; ");

    let mut me = request(Method::GET, "/api/auth/me", Body::empty());
    me.headers_mut()
        .insert(header::COOKIE, jar.parse().expect("cookie"));
    assert_eq!(
        app.send(me).await.status,
        StatusCode::OK,
        "safe request: no CSRF token needed"
    );

    let mut forged = json_request(Method::POST, "/api/auth/logout", &json!({}), None);
    forged
        .headers_mut()
        .insert(header::COOKIE, jar.parse().expect("cookie"));
    let refused = app.send(forged).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error_code(), "CSRF_FAILED");

    let mut wrong = json_request(Method::POST, "/api/auth/logout", &json!({}), None);
    wrong
        .headers_mut()
        .insert(header::COOKIE, jar.parse().expect("cookie"));
    wrong
        .headers_mut()
        .insert("x-csrf-token", "AAAA".parse().expect("header"));
    assert_eq!(app.send(wrong).await.error_code(), "CSRF_FAILED");

    let mut genuine = json_request(Method::POST, "/api/auth/logout", &json!({}), None);
    genuine
        .headers_mut()
        .insert(header::COOKIE, jar.parse().expect("cookie"));
    genuine
        .headers_mut()
        .insert("x-csrf-token", csrf.parse().expect("header"));
    assert_eq!(app.send(genuine).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn bearer_requests_need_no_csrf_token() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;

    let response = app
        .json_as(&user, Method::POST, "/api/auth/logout", &json!({}))
        .await;

    assert_eq!(response.status, StatusCode::NO_CONTENT);
}
