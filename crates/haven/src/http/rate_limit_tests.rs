//! The auth limit behind Haven's real middleware, driven in process.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Extension};
use axum::http::{Request, StatusCode, header};
use axum::routing::post;
use tower::ServiceExt;

use super::{AuthRateLimit, auth_rate_limit, subject};
use crate::config::IpNetwork;
use crate::http::client_ip::ClientIp;
use crate::http::with_middleware;
use crate::ratelimit::RateLimiter;

const SPEC_BODY: &str = r#"{"success":false,"error":"RATE_LIMITED","message":"Rate limit exceeded. Please try again later."}"#;

async fn echo_ip(Extension(ClientIp(ip)): Extension<ClientIp>) -> String {
    ip.to_string()
}

/// `/api/auth/login` limited to 3 requests a minute per client.
fn auth_router(trusted: &[&str]) -> Router {
    let trusted: Vec<IpNetwork> = trusted
        .iter()
        .map(|net| IpNetwork::parse(net).expect("network"))
        .collect();
    let limit = AuthRateLimit::new(
        RateLimiter::in_process(),
        3,
        Duration::from_secs(60),
        trusted,
    );
    let routes = Router::new()
        .route("/api/auth/login", post(echo_ip))
        .layer(axum::middleware::from_fn_with_state(limit, auth_rate_limit));
    with_middleware(routes, Duration::from_secs(5))
}

async fn login(
    router: &Router,
    peer: &str,
    forwarded_for: Option<&str>,
) -> (StatusCode, Option<u64>, String) {
    let peer: IpAddr = peer.parse().expect("ip");
    let mut request = Request::post("/api/auth/login")
        .body(Body::empty())
        .expect("request");
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(peer, 40_000)));
    if let Some(chain) = forwarded_for {
        request
            .headers_mut()
            .insert("x-forwarded-for", chain.parse().expect("header"));
    }
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .map(|value| value.to_str().expect("ascii").parse().expect("seconds"));
    let body = to_bytes(response.into_body(), 1 << 16).await.expect("body");
    (
        status,
        retry_after,
        String::from_utf8(body.to_vec()).expect("utf-8"),
    )
}

#[tokio::test]
async fn the_fourth_request_in_a_window_is_refused_with_the_spec_body() {
    let router = auth_router(&[]);

    for _ in 0..3 {
        let (status, _, body) = login(&router, "203.0.113.9", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "203.0.113.9");
    }
    let (status, retry_after, body) = login(&router, "203.0.113.9", None).await;

    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body, SPEC_BODY);
    let retry_after = retry_after.expect("Retry-After");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn each_client_ip_has_its_own_count() {
    let router = auth_router(&[]);
    for _ in 0..4 {
        login(&router, "203.0.113.9", None).await;
    }

    let (status, _, _) = login(&router, "198.51.100.4", None).await;

    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn clients_behind_a_trusted_proxy_are_counted_apart() {
    let router = auth_router(&["10.0.0.0/8"]);
    for _ in 0..3 {
        let (status, _, body) = login(&router, "10.0.0.2", Some("198.51.100.4")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "198.51.100.4"));
    }

    let (refused, _, _) = login(&router, "10.0.0.2", Some("198.51.100.4")).await;
    let (other, _, _) = login(&router, "10.0.0.2", Some("198.51.100.5")).await;

    assert_eq!(refused, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(other, StatusCode::OK);
}

#[tokio::test]
async fn a_forged_header_from_an_untrusted_peer_does_not_escape_the_limit() {
    let router = auth_router(&["10.0.0.0/8"]);
    for i in 0..3 {
        login(&router, "203.0.113.9", Some(&format!("198.51.100.{i}"))).await;
    }

    let (status, _, _) = login(&router, "203.0.113.9", Some("198.51.100.99")).await;

    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn an_ipv6_client_cannot_escape_by_changing_addresses_in_its_64() {
    let router = auth_router(&[]);
    for i in 1..=3 {
        login(&router, &format!("2001:db8:1:2::{i}"), None).await;
    }

    let (same_64, _, _) = login(&router, "2001:db8:1:2::ffff", None).await;
    let (other_64, _, _) = login(&router, "2001:db8:1:3::1", None).await;

    assert_eq!(same_64, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(other_64, StatusCode::OK);
}

#[test]
fn ipv4_clients_are_counted_per_address() {
    let ip: IpAddr = "203.0.113.9".parse().expect("ip");
    assert_eq!(subject(ip), ip);
    let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().expect("ip");
    assert_eq!(subject(v6), "2001:db8:1:2::".parse::<IpAddr>().expect("ip"));
}
