//! Request head limits, answered in the error envelope: at most [`MAX_HEADERS`] headers of at
//! most [`MAX_HEADER_BYTES`] in all (431), and a request target of at most [`MAX_URI_BYTES`]
//! (414). hyper refuses heads beyond `ConnectionLimits::max_head_bytes` before this runs.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{AppError, ErrorCode};

/// Headers per request.
pub const MAX_HEADERS: usize = 100;
/// Bytes of header names and values per request.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Bytes of the request target (path and query).
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The middleware.
pub async fn middleware(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return refuse(ErrorCode::HeadersTooLarge);
    }
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return refuse(ErrorCode::UriTooLong);
    }
    next.run(request).await
}

fn refuse(code: ErrorCode) -> Response {
    AppError::new(code, code.default_message()).into_response()
}
