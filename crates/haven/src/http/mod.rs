//! The HTTP layer: routes, the middleware every request passes, errors and extractors.

pub mod caller;
pub mod client_ip;
pub mod context;
pub mod docs;
mod domain_errors;
pub mod dpop;
pub mod error;
mod health;
pub mod json;
pub mod limits;
pub mod meta;
pub mod openapi;
pub mod query;
pub mod rate_limit;
pub mod refusal;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use error::{AppError, ErrorCode};

/// Request bodies are capped at 64 KiB (SPEC §4).
pub const BODY_LIMIT: usize = 64 * 1024;

/// All routes, with the middleware.
pub fn router(state: AppState) -> Router {
    let timeout = state.request_timeout();
    let routes = Router::from(documented_routes(&state))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            refusal::middleware,
        ))
        .with_state(state);
    with_middleware(routes, timeout)
}

/// The OpenAPI document of every route `state` serves.
#[must_use]
pub fn openapi(state: &AppState) -> utoipa::openapi::OpenApi {
    openapi::document(documented_routes(state).into_openapi())
}

/// Every route, each registered with its documentation (`routes!` reads the path and method
/// from the handler's `#[utoipa::path]`). Nothing is added with a bare `.route`: the test
/// `every_route_is_documented` holds the sources to that.
fn documented_routes(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(jwks))
        .routes(routes!(auth_metadata))
        .routes(routes!(docs::openapi_json))
        .routes(routes!(docs::docs_page))
        .routes(routes!(docs::docs_asset))
        .nest("/api", crate::api::routes(state))
}

/// `GET /.well-known/jwks.json`: the public halves of the signing key and keys in grace.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The signing key and keys still in grace", body = crate::auth::keys::JwkSet)),
)]
async fn jwks(State(state): State<AppState>) -> json::AppJson<crate::auth::keys::JwkSet> {
    json::AppJson(state.keys().jwks())
}

/// What a client needs to know to authenticate: `GET /.well-known/haven-auth`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct AuthMetadata {
    /// The `iss` of access tokens.
    issuer: String,
    /// Where the token-signing keys are published.
    jwks_uri: String,
    /// The URL DPoP proofs name in `htu` (plus the request's path).
    public_url: String,
    /// `Bearer` and `DPoP` (RFC 9449).
    token_types_supported: [&'static str; 2],
    /// The algorithms a DPoP proof may be signed with.
    dpop_signing_alg_values_supported: [&'static str; 2],
    /// The routes whose proofs must carry the server's nonce (`DPoP-Nonce`).
    dpop_nonce_required_at: [&'static str; 2],
}

/// `GET /.well-known/haven-auth`: token types and DPoP algorithms, for API clients.
#[utoipa::path(
    get,
    path = "/.well-known/haven-auth",
    tag = "operations",
    security(()),
    responses((status = 200, description = "Token types, the DPoP algorithms and where a nonce is required", body = AuthMetadata)),
)]
async fn auth_metadata(State(state): State<AppState>) -> json::AppJson<AuthMetadata> {
    let config = state.auth_config();
    json::AppJson(AuthMetadata {
        issuer: config.issuer.clone(),
        jwks_uri: format!("{}/.well-known/jwks.json", config.public_url),
        public_url: config.public_url.clone(),
        token_types_supported: ["Bearer", "DPoP"],
        dpop_signing_alg_values_supported: crate::auth::dpop::ALGORITHMS,
        dpop_nonce_required_at: ["/api/auth/login", "/api/auth/refresh"],
    })
}

/// Wraps `routes` in the middleware every Haven route runs under (outermost first): request
/// context and error rendering, head limits, panic capture, the request timeout (503), and the body limit.
/// Unknown routes answer 404 and unknown methods 405, both in the envelope.
pub fn with_middleware(routes: Router, timeout: Duration) -> Router {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(context::middleware))
                .layer(axum::middleware::from_fn(limits::middleware))
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
