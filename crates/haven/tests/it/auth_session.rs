//! Sessions: refresh rotation and reuse, logout, `me`, cookie sessions with CSRF, password change.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use haven::domain::Role;
use haven_testkit::{PASSWORD, TestApp, json_request, request};
use serde_json::json;

async fn refresh(app: &TestApp, token: &str) -> haven_testkit::TestResponse {
    app.json(
        Method::POST,
        "/api/auth/refresh",
        &json!({ "refreshToken": token }),
    )
    .await
}

#[tokio::test]
async fn refresh_rotates_and_the_old_token_stops_working() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;

    let first = refresh(&app, &user.refresh_token).await;

    assert_eq!(first.status, StatusCode::OK);
    let body = first.json();
    let next = body["refreshToken"].as_str().expect("new refresh token");
    assert_ne!(next, user.refresh_token);
    assert!(body["token"].is_string());
    assert_eq!(
        refresh(&app, next).await.status,
        StatusCode::OK,
        "the new one works"
    );
    assert!(app.audited(user.organization_id, "TOKEN_REFRESH").await);
}

#[tokio::test]
async fn presenting_a_rotated_token_revokes_the_whole_family() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    let rotated = refresh(&app, &user.refresh_token).await.json();
    let current = rotated["refreshToken"].as_str().expect("token").to_owned();

    // The stolen, already-rotated token comes back.
    let reuse = refresh(&app, &user.refresh_token).await;

    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh(&app, &current).await.status,
        StatusCode::UNAUTHORIZED,
        "family revoked"
    );
    let events = app.audit_events(user.organization_id).await;
    assert!(
        events
            .iter()
            .any(|(a, o, _)| a == "REFRESH_TOKEN_REUSE" && o == "denied")
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Billing).await;

    let response = app
        .json_as(&user, Method::POST, "/api/auth/logout", &json!({}))
        .await;

    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert_eq!(
        refresh(&app, &user.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert!(app.audited(user.organization_id, "LOGOUT").await);
}

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

#[tokio::test]
async fn changing_the_password_checks_the_old_one_and_the_policy() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Billing).await;
    let other_session = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": user.email, "password": PASSWORD }),
        )
        .await
        .json();
    let change =
        |current: &str, new: &str| json!({ "currentPassword": current, "newPassword": new });

    let wrong = app
        .json_as(
            &user,
            Method::POST,
            "/api/auth/password",
            &change("nope-nope-nope", "a brand new passphrase 77"),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.json()["details"]["currentPassword"], "is incorrect");

    let weak = app
        .json_as(
            &user,
            Method::POST,
            "/api/auth/password",
            &change(PASSWORD, "passwordpassword"),
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.json()["details"]["newPassword"].is_string());

    let short = app
        .json_as(
            &user,
            Method::POST,
            "/api/auth/password",
            &change(PASSWORD, "Sh0rt!"),
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);

    let ok = app
        .json_as(
            &user,
            Method::POST,
            "/api/auth/password",
            &change(PASSWORD, "a brand new passphrase 77"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);

    let old = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": user.email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": user.email, "password": "a brand new passphrase 77" }),
        )
        .await;
    assert_eq!(new.status, StatusCode::OK);
    let other_refresh = other_session["refreshToken"].as_str().expect("token");
    assert_eq!(
        refresh(&app, other_refresh).await.status,
        StatusCode::UNAUTHORIZED,
        "other sessions ended"
    );
    assert_eq!(
        refresh(&app, &user.refresh_token).await.status,
        StatusCode::OK,
        "this session lives on"
    );
    assert!(app.audited(user.organization_id, "PASSWORD_CHANGE").await);
}

async fn age_session(app: &TestApp, user: &haven_testkit::TestUser, column: &str, by: &str) {
    let owner = app.db().owner_pool().await;
    let statement = format!(
        "UPDATE refresh_families SET {column} = {column} - interval '{by}' WHERE user_id = $1"
    );
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .bind(user.id)
        .execute(&owner)
        .await
        .expect("age the session");
}

#[tokio::test]
async fn a_session_idle_for_more_than_30_minutes_is_over() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    age_session(&app, &user, "last_used_at", "31 minutes").await;

    assert_eq!(
        refresh(&app, &user.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_session_older_than_12_hours_is_over_however_active() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    age_session(&app, &user, "created_at", "12 hours 1 minute").await;

    assert_eq!(
        refresh(&app, &user.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn auth_routes_are_rate_limited_per_client_ip() {
    let mut settings = haven::app::Settings::development();
    settings.auth.auth_rate_limit = 3;
    let app = TestApp::with_settings(settings).await;
    let body = json!({ "email": "nobody@example.org", "password": "whatever-it-is-123" });

    for _ in 0..3 {
        assert_eq!(
            app.json(Method::POST, "/api/auth/login", &body)
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = app.json(Method::POST, "/api/auth/login", &body).await;

    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited.json(),
        json!({ "success": false, "error": "RATE_LIMITED", "message": "Rate limit exceeded. Please try again later." })
    );
    assert!(
        limited
            .header("retry-after")
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|s| s >= 1)
    );
    let refresh = app
        .json(
            Method::POST,
            "/api/auth/refresh",
            &json!({ "refreshToken": "hvn_rt_x" }),
        )
        .await;
    assert_eq!(
        refresh.status,
        StatusCode::TOO_MANY_REQUESTS,
        "refresh is limited too"
    );
    assert_eq!(
        app.get("/health").await.status,
        StatusCode::OK,
        "other routes are not"
    );
}

#[tokio::test]
async fn two_instances_share_the_auth_rate_limit_through_redis() {
    let url = haven_testkit::services::redis_url();
    let settings = || {
        let mut settings = haven::app::Settings::development();
        settings.auth.auth_rate_limit = 4;
        settings.auth.redis_url = Some(url.clone().into());
        settings.auth.redis_key_prefix = format!("haven:test:{}", uuid::Uuid::new_v4().simple());
        settings
    };
    let shared = settings();
    let prefix = shared.auth.redis_key_prefix.clone();
    if let Err(error) = haven::ratelimit::RateLimiter::redis(&url.clone().into(), &prefix).await {
        haven_testkit::services::unavailable("the shared auth rate limit test", "Redis", &error);
        return;
    }
    let first = TestApp::with_settings(shared).await;
    let mut second_settings = settings();
    second_settings.auth.redis_key_prefix = prefix;
    let second = TestApp::with_settings(second_settings).await;
    let body = json!({ "email": "nobody@example.org", "password": "whatever-it-is-123" });

    for app in [&first, &second, &first, &second] {
        assert_eq!(
            app.json(Method::POST, "/api/auth/login", &body)
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }

    assert_eq!(
        first
            .json(Method::POST, "/api/auth/login", &body)
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        second
            .json(Method::POST, "/api/auth/login", &body)
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
}
