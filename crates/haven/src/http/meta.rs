//! `Meta`: where a request came from, for the audit trail.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use super::client_ip::client_ip;
use super::context::RequestId;
use crate::app::AppState;
use crate::audit::RequestMeta;

/// The request's client address (see `HAVEN_TRUSTED_PROXIES`), user agent and request id.
#[derive(Debug, Clone)]
pub struct Meta(pub RequestMeta);

impl FromRequestParts<AppState> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |info| info.0.ip());
        let ip = client_ip(peer, &parts.headers, &state.auth_config().trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect());
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|id| id.as_str().to_owned());
        Ok(Self(RequestMeta {
            ip: Some(ip),
            user_agent,
            request_id,
        }))
    }
}
