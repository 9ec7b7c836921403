//! The per-request context: request id, the request's tracing span, the access log line, and
//! the rendering of every error response into the envelope.
//!
//! This middleware is the outermost layer, so whatever happens inside (a handler's error, an
//! unknown route, a body over the limit, a timeout, a panic) leaves through it. The span carries
//! `requestId`, the method, the matched route (low cardinality, never the raw path) and empty
//! `userId` / `organizationId` fields that authentication fills in once it knows the caller
//! (the JSON log shows them under `span`). The access line adds `status` and `latencyMs`, and
//! every request is counted in `haven_http_requests_total` / `haven_http_request_duration_seconds`.
//! No header, query string or body is ever logged: `Authorization` and cookies included.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::{Instrument, field};

use super::error::{self, InternalCause};
use crate::telemetry::metrics;

/// The request id header, read from clients and always set on responses.
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request: the client's `X-Request-Id` when it is sane, else a new UUID.
#[derive(Clone, Debug)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// The id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_request(request: &Request) -> Self {
        let incoming = request
            .headers()
            .get(&REQUEST_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .filter(|id| is_sane(id));
        Self(match incoming {
            Some(id) => id.into(),
            None => uuid::Uuid::now_v7().to_string().into(),
        })
    }
}

/// Headers every response carries. The API serves JSON to programs: nothing may be cached by
/// a browser or proxy (PHI and tokens), sniffed into another type, framed, or leak a referrer.
/// A handler that sets its own (e.g. a documentation page's CSP) keeps it.
fn harden(headers: &mut axum::http::HeaderMap) {
    use axum::http::header;
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ] {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    }
}

/// 1–128 characters of `[A-Za-z0-9._:-]`: safe to log and to echo in a header.
fn is_sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The middleware; see the module docs.
pub async fn middleware(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = RequestId::from_request(&request);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().clone();
    let span = tracing::info_span!(
        "request",
        requestId = %request_id.as_str(),
        method = %method,
        route = %route,
        userId = field::Empty,
        organizationId = field::Empty,
    );
    request.extensions_mut().insert(request_id.clone());

    let mut response = next.run(request).instrument(span.clone()).await;

    let status = response.status();
    if let Some(InternalCause(cause)) = response.extensions_mut().remove::<InternalCause>() {
        // `{:#}` prints the context chain. Causes come from our code and the database driver,
        // whose messages name constraints and columns, never the values.
        tracing::error!(parent: &span, error = %crate::telemetry::loggable(&**cause), "request failed");
    }
    if status.is_client_error() || status.is_server_error() {
        if let Some(body) = response.extensions().get::<error::ErrorBody>() {
            match body.code() {
                error::ErrorCode::RateLimited => metrics::security_response("rate_limited"),
                error::ErrorCode::CsrfFailed => metrics::security_response("csrf_failed"),
                _ => {}
            }
        }
        error::render(&mut response, request_id.as_str());
    }
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        response
            .headers_mut()
            .insert(REQUEST_ID_HEADER.clone(), value);
    }
    harden(response.headers_mut());
    let elapsed = started.elapsed();
    metrics::http_request(method.as_str(), &route, status.as_u16(), elapsed);
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    tracing::info!(parent: &span, status = status.as_u16(), latencyMs = latency_ms, "request completed");
    response
}

#[cfg(test)]
mod tests {
    use super::is_sane;

    #[test]
    fn only_plain_request_ids_are_kept() {
        assert!(is_sane("3f1c2b9e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"));
        assert!(is_sane("lb:abc.123_x"));
        assert!(!is_sane(""));
        assert!(!is_sane("has space"));
        assert!(!is_sane("new\nline"));
        assert!(!is_sane(&"a".repeat(129)));
    }
}
