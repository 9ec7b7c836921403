//! The error envelope of SPEC §4, for every error Haven answers.
//!
//! Handlers return [`AppError`]. Its response carries the status and an [`ErrorBody`] extension
//! but no body yet: the request middleware ([`super::context`]) renders every error response,
//! so errors that never passed through a handler (unknown route, wrong method, body too large,
//! timeout, panic) get the same envelope. 5xx bodies are always opaque and carry the
//! `requestId`; the internal cause is logged once, inside the request's span.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::policy::{Denial, PolicyError};

/// The `error` codes Haven answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// 400: the input is not acceptable; `details` names fields.
    ValidationError,
    /// 401: no valid credentials on the request.
    Unauthenticated,
    /// 401: login failed (always the same body, whatever the reason).
    InvalidCredentials,
    /// 401: the account needs a second factor.
    MfaRequired,
    /// 401: a DPoP proof is missing, invalid or replayed, or a bound token came without one
    /// (`WWW-Authenticate: DPoP`); the precise reason is only in the audit row.
    InvalidDpopProof,
    /// 400: login or refresh needs a proof with the server's nonce, given in `DPoP-Nonce`.
    UseDpopNonce,
    /// 403: the caller's role may not do this.
    Forbidden,
    /// 403: a cookie-authenticated request without the matching CSRF token.
    CsrfFailed,
    /// 404: no such resource, or one the caller may not know exists.
    NotFound,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 408: the client was too slow sending its request.
    RequestTimeout,
    /// 409: conflicts with existing data (e.g. a duplicate).
    Conflict,
    /// 409: not allowed in the resource's current state.
    InvalidState,
    /// 409: not enough units left on the authorization.
    InsufficientUnits,
    /// 409: the date is outside the authorization's period.
    AuthorizationExpired,
    /// 409: the authorization is not active.
    AuthorizationNotActive,
    /// 409: the authorization has no units left.
    AuthorizationExhausted,
    /// 409: the time overlaps another active appointment or block (`details.conflictWith`).
    ScheduleConflict,
    /// 409: the time is outside the clinician's availability.
    OutsideAvailability,
    /// 409: the hold has expired.
    HoldExpired,
    /// 409: the waitlist offer has expired.
    OfferExpired,
    /// 409: the note is signed (or otherwise locked) and cannot change.
    NoteLocked,
    /// 422 `VALIDATION_ERROR`: well-formed, but incomplete for the operation (a note signed
    /// without its required sections); `details` names what is missing.
    Incomplete,
    /// 413: the body exceeds the limit.
    PayloadTooLarge,
    /// 414: the request target is too long.
    UriTooLong,
    /// 431: too many request headers, or too large.
    HeadersTooLarge,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 422: a unit adjustment would break the ledger's bounds.
    InvalidAdjustment,
    /// 429: too many requests; see `Retry-After`.
    RateLimited,
    /// 500: a bug or an outage; the body carries the request id.
    Internal,
    /// 503: a dependency (the database) is unavailable, or the request took too long.
    ServiceUnavailable,
}

impl ErrorCode {
    /// The code as it appears in the envelope.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ValidationError => "VALIDATION_ERROR",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::MfaRequired => "MFA_REQUIRED",
            Self::Forbidden => "FORBIDDEN",
            Self::CsrfFailed => "CSRF_FAILED",
            Self::InvalidDpopProof => "INVALID_DPOP_PROOF",
            Self::UseDpopNonce => "USE_DPOP_NONCE",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::Conflict => "CONFLICT",
            Self::InvalidState => "INVALID_STATE",
            Self::InsufficientUnits => "INSUFFICIENT_UNITS",
            Self::AuthorizationExpired => "AUTHORIZATION_EXPIRED",
            Self::AuthorizationNotActive => "AUTHORIZATION_NOT_ACTIVE",
            Self::AuthorizationExhausted => "AUTHORIZATION_EXHAUSTED",
            Self::ScheduleConflict => "SCHEDULE_CONFLICT",
            Self::OutsideAvailability => "OUTSIDE_AVAILABILITY",
            Self::HoldExpired => "HOLD_EXPIRED",
            Self::OfferExpired => "OFFER_EXPIRED",
            Self::NoteLocked => "NOTE_LOCKED",
            Self::Incomplete => "VALIDATION_ERROR",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UriTooLong => "URI_TOO_LONG",
            Self::HeadersTooLarge => "HEADERS_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::InvalidAdjustment => "INVALID_ADJUSTMENT",
            Self::RateLimited => "RATE_LIMITED",
            Self::Internal => "INTERNAL",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
        }
    }

    /// The HTTP status that goes with the code.
    #[must_use]
    pub const fn status(self) -> StatusCode {
        match self {
            Self::ValidationError => StatusCode::BAD_REQUEST,
            Self::Unauthenticated
            | Self::InvalidCredentials
            | Self::MfaRequired
            | Self::InvalidDpopProof => StatusCode::UNAUTHORIZED,
            Self::UseDpopNonce => StatusCode::BAD_REQUEST,
            Self::Forbidden | Self::CsrfFailed => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict
            | Self::InvalidState
            | Self::InsufficientUnits
            | Self::AuthorizationExpired
            | Self::AuthorizationNotActive
            | Self::AuthorizationExhausted
            | Self::ScheduleConflict
            | Self::OutsideAvailability
            | Self::HoldExpired
            | Self::OfferExpired
            | Self::NoteLocked => StatusCode::CONFLICT,
            Self::Incomplete => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InvalidAdjustment => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The message used when nothing more specific is known.
    #[must_use]
    pub const fn default_message(self) -> &'static str {
        match self {
            Self::ValidationError => "The request is not valid",
            Self::Unauthenticated => "Authentication required",
            Self::InvalidCredentials => "Invalid email or password",
            Self::MfaRequired => "A valid MFA code is required",
            Self::Forbidden => "You do not have permission to do this",
            Self::CsrfFailed => "Missing or invalid CSRF token",
            Self::InvalidDpopProof => "Missing or invalid DPoP proof",
            Self::UseDpopNonce => "A DPoP proof with the server's nonce (DPoP-Nonce) is required",
            Self::NotFound => "Resource not found",
            Self::MethodNotAllowed => "Method not allowed for this resource",
            Self::RequestTimeout => "The request was not received in time",
            Self::Conflict => "The request conflicts with existing data",
            Self::InvalidState => "Not allowed in the resource's current state",
            Self::InsufficientUnits => "Not enough units available",
            Self::AuthorizationExpired => "The authorization does not cover this date",
            Self::AuthorizationNotActive => "The authorization is not active",
            Self::AuthorizationExhausted => "The authorization has no units left",
            Self::ScheduleConflict => "The time conflicts with another appointment or block",
            Self::OutsideAvailability => "The time is outside the clinician's availability",
            Self::HoldExpired => "The hold has expired",
            Self::OfferExpired => "The offer has expired",
            Self::NoteLocked => "The note is signed and can no longer change; add an addendum",
            Self::Incomplete => "The request is incomplete",
            Self::PayloadTooLarge => "The request body is too large",
            Self::UriTooLong => "The request URI is too long",
            Self::HeadersTooLarge => "The request headers are too many or too large",
            Self::UnsupportedMediaType => {
                "The request body must be JSON (Content-Type: application/json)"
            }
            Self::InvalidAdjustment => "The adjustment is not valid",
            Self::RateLimited => "Rate limit exceeded. Please try again later.",
            Self::Internal => "Internal server error",
            Self::ServiceUnavailable => "Service temporarily unavailable",
        }
    }

    /// The code for an error response that did not come with one.
    #[must_use]
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::UNAUTHORIZED => Self::Unauthenticated,
            StatusCode::FORBIDDEN => Self::Forbidden,
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::REQUEST_TIMEOUT => Self::RequestTimeout,
            StatusCode::CONFLICT => Self::Conflict,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::URI_TOO_LONG => Self::UriTooLong,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => Self::HeadersTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            StatusCode::TOO_MANY_REQUESTS => Self::RateLimited,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                Self::ServiceUnavailable
            }
            s if s.is_server_error() => Self::Internal,
            _ => Self::ValidationError,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Field name → what is wrong with it.
pub type Details = BTreeMap<String, String>;

/// What an error response says, attached to it until the middleware renders it.
#[derive(Clone, Debug)]
pub struct ErrorBody {
    code: ErrorCode,
    message: Cow<'static, str>,
    details: Option<Details>,
    /// Headers the answer carries (a `DPoP-Nonce`), beside those its code implies.
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ErrorBody {
    /// The code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The client-safe message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Field problems, for validation errors.
    #[must_use]
    pub fn details(&self) -> Option<&Details> {
        self.details.as_ref()
    }
}

/// The internal cause of a 500, for the log only.
#[derive(Clone, Debug)]
pub(crate) struct InternalCause(pub(crate) Arc<anyhow::Error>);

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An answer for the client: a 4xx, or a 503 that names the unavailable dependency.
    #[error("{}: {}", .0.code, .0.message)]
    Client(ErrorBody),
    /// A bug or an outage. The client sees an opaque 500 with the request id; the cause is logged.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
    /// A refusal decided by `crate::policy`: a 403, or a 404 that reveals nothing. Its audit
    /// row is written by the refusal layer ([`super::refusal`]) once the handler has returned
    /// (and with it the request's transaction and connection).
    #[error("access refused")]
    Denied(Box<Denial>),
}

impl From<Denial> for AppError {
    fn from(denial: Denial) -> Self {
        Self::Denied(Box::new(denial))
    }
}

impl From<PolicyError> for AppError {
    fn from(error: PolicyError) -> Self {
        match error {
            PolicyError::Denied(denial) => Self::Denied(denial),
            PolicyError::Database(error) => error.into(),
        }
    }
}

/// The refusal a response still has to record: taken out by the refusal layer.
#[derive(Clone, Debug)]
pub struct PendingRefusal(pub Box<Denial>);

impl AppError {
    /// An error with `code` and a specific, client-safe message.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Client(ErrorBody {
            code,
            message: message.into(),
            details: None,
            headers: Vec::new(),
        })
    }

    /// A 400 `VALIDATION_ERROR` naming the fields at fault.
    pub fn validation(message: impl Into<Cow<'static, str>>, details: Details) -> Self {
        Self::Client(ErrorBody {
            code: ErrorCode::ValidationError,
            message: message.into(),
            details: Some(details),
            headers: Vec::new(),
        })
    }

    /// An error with `code`, a client-safe message and `details` (field → problem).
    pub fn with_details(
        code: ErrorCode,
        message: impl Into<Cow<'static, str>>,
        details: Details,
    ) -> Self {
        Self::Client(ErrorBody {
            code,
            message: message.into(),
            details: Some(details),
            headers: Vec::new(),
        })
    }

    /// A 400 `VALIDATION_ERROR` for one field.
    pub fn invalid_field(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        let message = format!("{field}: {problem}");
        Self::validation(message, Details::from([(field.to_owned(), problem)]))
    }

    /// The same error, answered with header `name: value` too (client errors only).
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        if let Self::Client(body) = &mut self {
            body.headers.push((name, value));
        }
        self
    }

    /// A 404 `NOT_FOUND`.
    #[must_use]
    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, ErrorCode::NotFound.default_message())
    }

    /// The code this error answers with.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Client(body) => body.code,
            Self::Denied(denial) if denial.is_forbidden() => ErrorCode::Forbidden,
            Self::Denied(_) => ErrorCode::NotFound,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(error.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::empty());
        match self {
            Self::Client(mut body) => {
                *response.status_mut() = body.code.status();
                let challenge = match body.code {
                    ErrorCode::InvalidDpopProof => {
                        Some("DPoP error=\"invalid_dpop_proof\", algs=\"ES256 EdDSA\"")
                    }
                    ErrorCode::UseDpopNonce => {
                        Some("DPoP error=\"use_dpop_nonce\", algs=\"ES256 EdDSA\"")
                    }
                    _ => None,
                };
                let headers = response.headers_mut();
                if let Some(challenge) = challenge {
                    headers.insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(challenge),
                    );
                }
                for (name, value) in std::mem::take(&mut body.headers) {
                    headers.insert(name, value);
                }
                response.extensions_mut().insert(body);
            }
            Self::Denied(denial) => {
                let code = if denial.is_forbidden() {
                    ErrorCode::Forbidden
                } else {
                    ErrorCode::NotFound
                };
                *response.status_mut() = code.status();
                response.extensions_mut().insert(ErrorBody {
                    code,
                    message: Cow::Borrowed(denial.message().unwrap_or(code.default_message())),
                    details: None,
                    headers: Vec::new(),
                });
                response.extensions_mut().insert(PendingRefusal(denial));
            }
            Self::Internal(cause) if database_unavailable(&cause) => {
                // An outage, not a bug: the client may retry. The driver's message names the
                // connection problem, never data.
                tracing::warn!(error = %crate::telemetry::loggable(&*cause), "database unavailable");
                *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                response.extensions_mut().insert(ErrorBody {
                    code: ErrorCode::ServiceUnavailable,
                    message: Cow::Borrowed("The database is unavailable; please retry shortly"),
                    details: None,
                    headers: Vec::new(),
                });
            }
            Self::Internal(cause) => {
                if refused_by_row_security(&cause) {
                    crate::telemetry::metrics::rls_violation();
                }
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                response
                    .extensions_mut()
                    .insert(InternalCause(Arc::new(cause)));
            }
        }
        response
    }
}

/// The database errors in `cause`'s chain.
fn database_errors(cause: &anyhow::Error) -> impl Iterator<Item = &sqlx::Error> {
    cause
        .chain()
        .filter_map(|error| error.downcast_ref::<sqlx::Error>())
}

/// Whether `cause` is PostgreSQL refusing a statement for row-level security (SQLSTATE 42501 with
/// a policy message): the application's own checks let through something RLS caught.
fn refused_by_row_security(cause: &anyhow::Error) -> bool {
    database_errors(cause).any(|error| {
        error.as_database_error().is_some_and(|db| {
            db.code().as_deref() == Some("42501") && db.message().contains("row-level security")
        })
    })
}

/// Whether `cause` is the database being unreachable (refused or dropped connections, a pool
/// that cannot get one, the server shutting down) rather than a bug: those answer 503.
fn database_unavailable(cause: &anyhow::Error) -> bool {
    database_errors(cause).any(|error| match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 57P01–03: shutdown, crash, not yet accepting; 25006:
            // a write reached a server that became a standby (failover in progress).
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "25006")
        }),
        _ => false,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    success: bool,
    error: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Details>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

/// Gives an error response its envelope body. 5xx bodies are opaque and carry `request_id`.
pub(crate) fn render(response: &mut Response, request_id: &str) {
    let status = response.status();
    let given = response.extensions_mut().remove::<ErrorBody>();
    let body = match given {
        // A 500 never says more than "internal error", whatever was attached.
        Some(body) if status != StatusCode::INTERNAL_SERVER_ERROR => body,
        _ => {
            let code = ErrorCode::for_status(status);
            ErrorBody {
                code,
                message: Cow::Borrowed(code.default_message()),
                details: None,
                headers: Vec::new(),
            }
        }
    };
    let envelope = Envelope {
        success: false,
        error: body.code.as_str(),
        message: &body.message,
        details: body.details.as_ref(),
        request_id: status.is_server_error().then_some(request_id),
    };
    let bytes = serde_json::to_vec(&envelope).unwrap_or_else(|_| {
        br#"{"success":false,"error":"INTERNAL","message":"Internal server error"}"#.to_vec()
    });
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *response.body_mut() = Body::from(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_its_spec_status() {
        let pairs = [
            (ErrorCode::ValidationError, 400),
            (ErrorCode::Unauthenticated, 401),
            (ErrorCode::InvalidCredentials, 401),
            (ErrorCode::MfaRequired, 401),
            (ErrorCode::Forbidden, 403),
            (ErrorCode::CsrfFailed, 403),
            (ErrorCode::InvalidDpopProof, 401),
            (ErrorCode::UseDpopNonce, 400),
            (ErrorCode::NotFound, 404),
            (ErrorCode::Conflict, 409),
            (ErrorCode::InvalidState, 409),
            (ErrorCode::InsufficientUnits, 409),
            (ErrorCode::AuthorizationExpired, 409),
            (ErrorCode::AuthorizationNotActive, 409),
            (ErrorCode::AuthorizationExhausted, 409),
            (ErrorCode::InvalidAdjustment, 422),
            (ErrorCode::RateLimited, 429),
            (ErrorCode::Internal, 500),
        ];
        for (code, status) in pairs {
            assert_eq!(code.status().as_u16(), status, "{code}");
        }
    }

    #[test]
    fn rate_limit_message_is_the_spec_text() {
        assert_eq!(
            ErrorCode::RateLimited.default_message(),
            "Rate limit exceeded. Please try again later."
        );
    }
}
