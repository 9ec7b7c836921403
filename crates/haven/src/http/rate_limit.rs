//! The per-client-IP limit on every `/api/auth/*` request (SPEC §5), as axum middleware:
//!
//! ```ignore
//! let limit = AuthRateLimit::from_config(limiter, &config.auth);
//! let auth = auth_routes.layer(axum::middleware::from_fn_with_state(limit, auth_rate_limit));
//! ```

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use axum::http::{HeaderValue, header};

use super::client_ip::ClientIp;
use super::error::{AppError, ErrorCode};
use crate::config::{AuthConfig, IpNetwork};
use crate::ratelimit::{RateLimited, RateLimiter};

impl IntoResponse for RateLimited {
    fn into_response(self) -> Response {
        let mut response = AppError::new(
            ErrorCode::RateLimited,
            ErrorCode::RateLimited.default_message(),
        )
        .into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(self.retry_after_secs()),
        );
        response
    }
}

/// The auth limit's settings: the state of [`auth_rate_limit`].
#[derive(Clone, Debug)]
pub struct AuthRateLimit {
    limiter: RateLimiter,
    limit: u32,
    window: Duration,
    trusted: Arc<[IpNetwork]>,
}

impl AuthRateLimit {
    /// `limit` requests per client per `window`, clients resolved through `trusted` proxies.
    #[must_use]
    pub fn new(
        limiter: RateLimiter,
        limit: u32,
        window: Duration,
        trusted: impl Into<Arc<[IpNetwork]>>,
    ) -> Self {
        Self {
            limiter,
            limit,
            window,
            trusted: trusted.into(),
        }
    }

    /// The limit configured by `HAVEN_AUTH_RATE_LIMIT`, `HAVEN_AUTH_RATE_WINDOW_SECS` and
    /// `HAVEN_TRUSTED_PROXIES`.
    #[must_use]
    pub fn from_config(limiter: RateLimiter, config: &AuthConfig) -> Self {
        Self::new(
            limiter,
            config.auth_rate_limit,
            config.auth_rate_window,
            config.trusted_proxies.as_slice(),
        )
    }

    /// The proxies whose `X-Forwarded-For` is believed.
    #[must_use]
    pub fn trusted_proxies(&self) -> &[IpNetwork] {
        &self.trusted
    }
}

/// Counts the request against its client's IP; over the limit, answers 429 `RATE_LIMITED` with
/// `Retry-After` without running the route. The resolved [`ClientIp`] is left in the request's
/// extensions for the handlers.
pub async fn auth_rate_limit(
    State(config): State<AuthRateLimit>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let ip = ClientIp::from_parts(&parts, &config.trusted);
    parts.extensions.insert(ClientIp(ip));
    let key = format!("auth:{}", subject(ip));
    match config.limiter.hit(&key, config.limit, config.window).await {
        Ok(decision) if !decision.allowed => RateLimited {
            retry_after: decision.retry_after,
        }
        .into_response(),
        Ok(_) => next.run(Request::from_parts(parts, body)).await,
        // The window comes from validated configuration (1 s to a day), so this cannot happen;
        // if it does, refusing every login would be an outage of our own making.
        Err(error) => {
            tracing::error!(error = %crate::telemetry::loggable(&error), "auth rate limit misconfigured; request allowed");
            next.run(Request::from_parts(parts, body)).await
        }
    }
}

/// What an address is counted as. One IPv6 host usually holds a whole /64 and can use any
/// address in it, so IPv6 clients are counted per /64; otherwise a single machine could walk
/// through fresh addresses and never be limited.
fn subject(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
#[path = "rate_limit_tests.rs"]
mod tests;
