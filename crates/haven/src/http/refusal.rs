//! The one place a refusal is recorded. A handler (or an extractor) that is refused returns
//! `AppError::Denied`; its response carries a [`PendingRefusal`], which this layer takes out
//! and writes to the caller's audit trail (`ACCESS_DENIED` or `CROSS_TENANT_ACCESS_ATTEMPT`)
//! before the answer leaves.
//!
//! It runs after the handler has returned, so the request's own transaction is gone (rolled
//! back, its connection back in the pool): a refused request never holds two connections, and
//! a refused reservation keeps no row lock while its refusal is written. If the row cannot be
//! written, the client gets a 500 instead of the refusal (the trail is fail-closed).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::client_ip::client_ip;
use super::context::RequestId;
use super::error::{AppError, PendingRefusal};
use crate::app::AppState;
use crate::audit::{self, RequestMeta};

/// What the audit row needs of the request, kept while the handler runs.
struct Origin {
    peer: IpAddr,
    forwarded: Vec<axum::http::HeaderValue>,
    user_agent: Option<axum::http::HeaderValue>,
    request_id: Option<RequestId>,
}

impl Origin {
    fn of(request: &Request) -> Self {
        let headers = request.headers();
        Self {
            peer: request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |info| info.0.ip()),
            forwarded: headers.get_all("x-forwarded-for").iter().cloned().collect(),
            user_agent: headers.get(header::USER_AGENT).cloned(),
            request_id: request.extensions().get::<RequestId>().cloned(),
        }
    }

    fn meta(self, state: &AppState) -> RequestMeta {
        let mut headers = axum::http::HeaderMap::new();
        for value in self.forwarded {
            headers.append("x-forwarded-for", value);
        }
        RequestMeta {
            ip: Some(client_ip(
                self.peer,
                &headers,
                &state.auth_config().trusted_proxies,
            )),
            user_agent: self
                .user_agent
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.chars().take(512).collect()),
            request_id: self.request_id.map(|id| id.as_str().to_owned()),
        }
    }
}

/// The middleware; see the module docs.
pub async fn middleware(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let origin = Origin::of(&request);
    let mut response = next.run(request).await;
    let Some(PendingRefusal(denial)) = response.extensions_mut().remove::<PendingRefusal>() else {
        return response;
    };
    let Some(event) = denial.audit_event() else {
        return response;
    };
    let event = event.with_request(&origin.meta(&state));
    if let Err(error) = audit::record_alone(state.db(), denial.organization_id(), &event).await {
        return AppError::from(error).into_response();
    }
    if denial.is_cross_tenant() {
        tracing::warn!("cross-tenant access attempt");
    }
    response
}
