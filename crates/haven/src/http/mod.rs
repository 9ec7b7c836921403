//! The HTTP layer: routes, the middleware every request passes, errors and extractors.

pub mod client_ip;
pub mod context;
pub mod error;
mod health;
pub mod json;
pub mod meta;
pub mod query;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::app::AppState;
use error::{AppError, ErrorCode};

/// Request bodies are capped at 64 KiB (SPEC §4).
pub const BODY_LIMIT: usize = 64 * 1024;

/// All routes, with the middleware.
pub fn router(state: AppState) -> Router {
    let timeout = state.request_timeout();
    let routes = Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/.well-known/jwks.json", get(jwks))
        .nest("/api", crate::api::routes(&state))
        .with_state(state);
    with_middleware(routes, timeout)
}

/// `GET /.well-known/jwks.json`: the public halves of the signing key and keys in grace.
async fn jwks(State(state): State<AppState>) -> json::AppJson<crate::auth::keys::JwkSet> {
    json::AppJson(state.keys().jwks())
}

/// Wraps `routes` in the middleware every Haven route runs under (outermost first): request
/// context and error rendering, panic capture, the request timeout (503), and the body limit.
/// Unknown routes answer 404 and unknown methods 405, both in the envelope.
pub fn with_middleware(routes: Router, timeout: Duration) -> Router {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(context::middleware))
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    timeout,
                ))
                .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
                .layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
}

async fn not_found() -> AppError {
    AppError::not_found()
}

async fn method_not_allowed() -> AppError {
    AppError::new(
        ErrorCode::MethodNotAllowed,
        ErrorCode::MethodNotAllowed.default_message(),
    )
}

/// A panicking handler becomes an opaque 500. Its payload is not logged (it may hold request
/// data); the panic hook installed by `telemetry` logs where it happened.
fn panic_response(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    AppError::Internal(anyhow::anyhow!("a handler panicked")).into_response()
}
