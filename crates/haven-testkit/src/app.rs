//! Haven in-process: the real router over a test database, called without a network.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine;
use haven::crypto::MasterKey;
use haven::{App, AppState, build_router};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::TestDb;

/// The app over its own database.
#[derive(Debug)]
pub struct TestApp {
    db: TestDb,
    state: AppState,
    router: Router,
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl TestResponse {
    /// The body as JSON (panics if it is not).
    #[must_use]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header's value as text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    /// A fresh database and an app over it, with a random master key.
    pub async fn new() -> Self {
        let db = TestDb::new().await;
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("OS RNG");
        let master_key =
            MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode(key))
                .expect("random key");
        let state = AppState::new(App::new(
            db.app_pool().await,
            master_key,
            Duration::from_secs(10),
        ));
        let router = build_router(state.clone());
        Self { db, state, router }
    }

    /// The database under the app.
    #[must_use]
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// The app's state.
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Sends `request` through the router.
    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        send(&self.router, request).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(request(Method::GET, path, Body::empty())).await
    }

    /// `method path` with a JSON body.
    pub async fn json(&self, method: Method, path: &str, body: &serde_json::Value) -> TestResponse {
        let mut req = request(method, path, Body::from(body.to_string()));
        req.headers_mut().insert(
            header::CONTENT_TYPE,
            "application/json".parse().expect("static"),
        );
        self.send(req).await
    }
}

/// Builds a request.
#[must_use]
pub fn request(method: Method, path: &str, body: Body) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(body)
        .expect("a valid request")
}

/// Sends `request` through any router and reads the whole response.
pub async fn send(router: &Router, request: Request<Body>) -> TestResponse {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("reading the body")
        .to_bytes();
    TestResponse {
        status,
        headers,
        body,
    }
}
