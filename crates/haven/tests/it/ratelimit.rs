//! The auth rate limit: on Haven's auth routes (per client IP, and shared by two instances
//! through Redis), and as another module wires it: the public API, Haven's middleware, and the
//! peer address supplied the way tests supply it (`MockConnectInfo`).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, StatusCode};
use axum::routing::post;
use haven::config::IpNetwork;
use haven::http::rate_limit::{AuthRateLimit, auth_rate_limit};
use haven::http::with_middleware;
use haven::ratelimit::RateLimiter;
use haven_testkit::{TestApp, request, send};
use serde_json::json;

async fn ok() -> &'static str {
    "ok"
}

/// `/api/auth/login` limited to `limit` a minute, every request arriving from `peer`.
fn router(limit: u32, peer: [u8; 4], trusted: Vec<IpNetwork>) -> Router {
    let limit = AuthRateLimit::new(
        RateLimiter::in_process(),
        limit,
        Duration::from_secs(60),
        trusted,
    );
    let routes = Router::new()
        .route("/api/auth/login", post(ok))
        .layer(axum::middleware::from_fn_with_state(limit, auth_rate_limit));
    with_middleware(routes, Duration::from_secs(5))
        .layer(MockConnectInfo(SocketAddr::from((peer, 50_000))))
}

#[tokio::test]
async fn the_auth_limit_answers_429_with_retry_after_past_the_limit() {
    let app = router(2, [203, 0, 113, 9], Vec::new());

    let first = send(
        &app,
        request(Method::POST, "/api/auth/login", Body::empty()),
    )
    .await;
    let second = send(
        &app,
        request(Method::POST, "/api/auth/login", Body::empty()),
    )
    .await;
    let third = send(
        &app,
        request(Method::POST, "/api/auth/login", Body::empty()),
    )
    .await;

    assert_eq!(
        (first.status, second.status),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        third.json(),
        json!({
            "success": false,
            "error": "RATE_LIMITED",
            "message": "Rate limit exceeded. Please try again later."
        })
    );
    let retry_after: u64 = third
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after));
    assert!(third.header("x-request-id").is_some());
}

#[tokio::test]
async fn forwarded_clients_of_a_trusted_proxy_have_their_own_counts() {
    let proxy = IpNetwork::parse("10.0.0.0/8").expect("network");
    let app = router(1, [10, 0, 0, 2], vec![proxy]);
    let login_from = |client: &'static str| {
        let mut req = request(Method::POST, "/api/auth/login", Body::empty());
        req.headers_mut()
            .insert("x-forwarded-for", client.parse().expect("header"));
        req
    };

    let alice = send(&app, login_from("198.51.100.4")).await;
    let bob = send(&app, login_from("198.51.100.5")).await;
    let alice_again = send(&app, login_from("198.51.100.4")).await;

    assert_eq!((alice.status, bob.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(alice_again.status, StatusCode::TOO_MANY_REQUESTS);
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
    if let Err(error) = RateLimiter::redis(&url.clone().into(), &prefix).await {
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
