//! Every error leaves in the SPEC §4 envelope: unknown routes and methods, oversize and malformed
//! bodies, timeouts and panics included.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::routing::{get, post};
use haven::http::json::AppJson;
use haven::http::with_middleware;
use haven_testkit::{TestApp, TestResponse, request, send};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Probe {
    name: String,
    count: u32,
}

async fn echo(AppJson(probe): AppJson<Probe>) -> AppJson<Value> {
    AppJson(json!({ "name": probe.name, "count": probe.count }))
}

async fn boom() -> &'static str {
    panic!("a bug with patient data in its message")
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "late"
}

/// A router with JSON, panicking and slow handlers under Haven's real middleware.
fn probe_router() -> Router {
    let routes = Router::new()
        .route("/probe", post(echo))
        .route("/boom", get(boom))
        .route("/slow", get(slow));
    with_middleware(routes, Duration::from_millis(200))
}

async fn post_raw(body: impl Into<Body>, content_type: Option<&str>) -> TestResponse {
    let mut req = request(Method::POST, "/probe", body.into());
    if let Some(content_type) = content_type {
        req.headers_mut()
            .insert(header::CONTENT_TYPE, content_type.parse().expect("header"));
    }
    send(&probe_router(), req).await
}

fn assert_envelope(response: &TestResponse, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status, status, "{:?}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = response.json();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"], code);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    body
}

#[tokio::test]
async fn unknown_route_is_a_404_envelope() {
    let app = TestApp::new().await;

    let response = app.get("/api/nothing-here").await;

    let body = assert_envelope(&response, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert!(
        body.get("requestId").is_none(),
        "4xx bodies carry no request id"
    );
    assert!(response.header("x-request-id").is_some());
}

#[tokio::test]
async fn wrong_method_is_a_405_envelope_with_allow() {
    let app = TestApp::new().await;

    let response = app.json(Method::POST, "/health", &json!({})).await;

    assert_envelope(
        &response,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
    assert!(
        response
            .header("allow")
            .is_some_and(|allow| allow.contains("GET"))
    );
}

#[tokio::test]
async fn well_formed_json_reaches_the_handler() {
    let response = post_raw(r#"{"name":"x","count":2}"#, Some("application/json")).await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({ "name": "x", "count": 2 }));
}

#[tokio::test]
async fn malformed_json_is_a_400_envelope() {
    let response = post_raw(r#"{"name": "x", "count": "#, Some("application/json")).await;

    let body = assert_envelope(&response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(body["details"]["body"], "is not valid JSON");
}

#[tokio::test]
async fn non_utf8_body_is_a_400_envelope() {
    let response = post_raw(vec![0xff_u8, 0xfe, 0x7b], Some("application/json")).await;

    assert_envelope(&response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
}

#[tokio::test]
async fn unknown_fields_are_rejected_by_name() {
    let response = post_raw(
        r#"{"name":"x","count":1,"role":"ADMIN"}"#,
        Some("application/json"),
    )
    .await;

    let body = assert_envelope(&response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(body["details"]["role"], "is not a known field");
}

#[tokio::test]
async fn missing_and_mistyped_fields_are_named_without_echoing_input() {
    let missing = post_raw(r#"{"name":"x"}"#, Some("application/json")).await;
    let body = assert_envelope(&missing, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(body["details"]["count"], "is required");

    let mistyped = post_raw(
        r#"{"name":"x","count":"Jane Doe"}"#,
        Some("application/json"),
    )
    .await;
    let body = assert_envelope(&mistyped, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert!(body["details"]["count"].is_string(), "{body}");
    assert!(!String::from_utf8_lossy(&mistyped.body).contains("Jane"));
}

#[tokio::test]
async fn wrong_content_type_is_a_415_envelope() {
    let without = post_raw(r#"{"name":"x","count":1}"#, None).await;
    assert_envelope(
        &without,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    );

    let text = post_raw(r#"{"name":"x","count":1}"#, Some("text/plain")).await;
    assert_envelope(
        &text,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    );
}

#[tokio::test]
async fn body_over_64_kib_is_a_413_envelope() {
    let big = format!(r#"{{"name":"{}","count":1}}"#, "x".repeat(70 * 1024));

    let response = post_raw(big, Some("application/json")).await;

    assert_envelope(
        &response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );
}

#[tokio::test]
async fn body_over_the_limit_without_content_length_is_a_413_envelope() {
    let chunks = (0..80).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024]));
    let body = Body::from_stream(futures_util::stream::iter(chunks));

    let response = post_raw(body, Some("application/json")).await;

    assert_envelope(
        &response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );
}

#[tokio::test]
async fn a_panicking_handler_is_an_opaque_500_with_the_request_id() {
    let mut req = request(Method::GET, "/boom", Body::empty());
    req.headers_mut()
        .insert("x-request-id", "trace-me-123".parse().expect("header"));

    let response = send(&probe_router(), req).await;

    let body = assert_envelope(&response, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL");
    assert_eq!(body["message"], "Internal server error");
    assert_eq!(body["requestId"], "trace-me-123");
    assert_eq!(response.header("x-request-id"), Some("trace-me-123"));
    assert!(!String::from_utf8_lossy(&response.body).contains("patient"));
}

#[tokio::test]
async fn a_request_running_past_the_timeout_is_a_503_envelope() {
    let response = send(
        &probe_router(),
        request(Method::GET, "/slow", Body::empty()),
    )
    .await;

    let body = assert_envelope(
        &response,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    );
    assert!(body["requestId"].is_string());
}

#[tokio::test]
async fn a_sane_request_id_is_kept_and_an_insane_one_replaced() {
    let app = TestApp::new().await;

    let mut kept = request(Method::GET, "/health", Body::empty());
    kept.headers_mut()
        .insert("x-request-id", "abc-123".parse().expect("header"));
    assert_eq!(app.send(kept).await.header("x-request-id"), Some("abc-123"));

    let mut replaced = request(Method::GET, "/health", Body::empty());
    replaced.headers_mut().insert(
        "x-request-id",
        "<script>alert(1)</script>".parse().expect("header"),
    );
    let response = app.send(replaced).await;
    let id = response.header("x-request-id").expect("an id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}
