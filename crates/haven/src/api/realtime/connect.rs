//! `GET /api/realtime?ticket=&since=`: redeems a ticket and upgrades to the WebSocket.
//!
//! The checks run cheapest and least destructive first: the query (no token in a URL), the
//! `Origin`, the upgrade itself, and only then the ticket, so that a refused request never
//! burns one. The upgrade is then answered only once the socket has joined the hub (at most
//! five per user) and `REALTIME_CONNECT` is written.

use std::collections::HashSet;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::json;

use super::socket::{self, Session};
use crate::app::AppState;
use crate::audit::{self, AccessMethod, Actor, AuditAction, AuditEvent};
use crate::auth::revocation::{Grant, Verdict};
use crate::domain::Role;
use crate::http::error::{AppError, ErrorCode};
use crate::http::meta::Meta;
use crate::policy::realtime::Audience;
use crate::realtime::hub::SubscribeError;
use crate::realtime::ticket;
use crate::store::realtime as store;

/// The largest client frame, in bytes: clients only ever send small `subscribe` messages.
pub(super) const MAX_CLIENT_FRAME: usize = 4096;
/// The read and write buffer of one socket.
const SOCKET_BUFFER: usize = 8 * 1024;

/// What the query may hold.
#[derive(Debug)]
struct Query {
    ticket: String,
    since: Option<i64>,
}

fn parse_query(raw: Option<&str>) -> Result<Query, AppError> {
    let mut ticket = None;
    let mut since = None;
    for pair in raw.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "ticket" if ticket.is_none() => ticket = Some(value.to_owned()),
            "since" if since.is_none() => {
                since = Some(
                    value
                        .parse::<i64>()
                        .ok()
                        .filter(|s| *s >= 0)
                        .ok_or_else(|| {
                            AppError::invalid_field(
                                "since",
                                "must be a sequence number (0 or more)",
                            )
                        })?,
                );
            }
            "ticket" | "since" => {
                return Err(AppError::invalid_field(key, "must be given once"));
            }
            // Whatever else it is named, a credential has no place in a URL (it ends up in
            // logs and histories): refused, and never echoed.
            _ => {
                return Err(AppError::validation(
                    "Only `ticket` and `since` are accepted; tokens never travel in a URL",
                    [("query".to_owned(), "unknown parameter".to_owned())]
                        .into_iter()
                        .collect(),
                ));
            }
        }
    }
    let ticket = ticket.filter(|t| !t.is_empty()).ok_or_else(|| {
        AppError::invalid_field("ticket", "is required (POST /api/realtime/tickets)")
    })?;
    if !ticket::looks_like_ticket(&ticket) {
        return Err(AppError::invalid_field(
            "ticket",
            "must be a ticket from POST /api/realtime/tickets, never a token",
        ));
    }
    Ok(Query { ticket, since })
}

/// The `Origin` must be one of `HAVEN_ALLOWED_ORIGINS` (a page of another site must not open a
/// socket with a ticket it obtained). Clients that are not browsers send theirs too.
fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), AppError> {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_end_matches('/').to_ascii_lowercase());
    match origin {
        Some(origin) if state.auth_config().allowed_origins.contains(&origin) => Ok(()),
        _ => Err(AppError::new(
            ErrorCode::Forbidden,
            "This origin may not open a realtime connection",
        )),
    }
}

fn unauthenticated() -> AppError {
    AppError::new(
        ErrorCode::Unauthenticated,
        "The ticket is unknown, used or expired; ask for a new one",
    )
}

/// Open the realtime WebSocket
///
/// Upgrades to a WebSocket with a ticket from `POST /api/realtime/tickets` (single use, 30 s).
/// The `Origin` header must be one of `HAVEN_ALLOWED_ORIGINS`. With `since` (the `seq` of the
/// last event the client saw), missed events are replayed in order first, or a `resync`
/// frame is sent when they are more than 1,000 or reach back over 10 minutes. Frames: server
/// `event`, `heartbeat` (every 25 s), `resync`, `subscribed`, `error`; client
/// `{"type":"subscribe","topics":[…]}`. Close codes: 1001 shutdown, 1008 flooding, 1009 a frame
/// over 4 KiB, 1013 the client fell 256 events behind, 4401 session revoked, user disabled,
/// role changed or 12 h reached. At most 5 sockets per user. Audited `REALTIME_CONNECT` and
/// `REALTIME_DISCONNECT`.
#[utoipa::path(
    get,
    path = "",
    tag = "realtime",
    security(()),
    params(
        ("ticket" = String, Query, description = "A ticket from `POST /api/realtime/tickets`"),
        ("since" = Option<i64>, Query, description = "The `seq` of the last event received"),
    ),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "A missing or malformed ticket, a token or another parameter in the query, or not a WebSocket upgrade (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 401, description = "The ticket is unknown, used or expired, or its session was revoked (`UNAUTHENTICATED`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "The `Origin` is not allowed (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 429, description = "The user already has 5 sockets open (on this instance; on all of them together with `HAVEN_REDIS_URL`) (`RATE_LIMITED`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn connect_realtime(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    let query = parse_query(raw.as_deref())?;
    check_origin(&state, &headers)?;
    let upgrade = upgrade.map_err(|_| {
        AppError::validation(
            "Expected a WebSocket upgrade",
            [("upgrade".to_owned(), "must be websocket".to_owned())]
                .into_iter()
                .collect(),
        )
    })?;
    let redeemed = store::redeem_ticket(state.db().platform().pool(), &ticket::hash(&query.ticket))
        .await?
        .ok_or_else(unauthenticated)?;
    let grant = Grant {
        user: redeemed.user_id,
        role: redeemed.role,
        session: redeemed.session_id,
        issued_at: redeemed.issued_at.timestamp(),
    };
    match state.revocations().check_grant(&grant) {
        Verdict::Valid => {}
        Verdict::Revoked => return Err(unauthenticated()),
        Verdict::Unknown => {
            return Err(AppError::new(
                ErrorCode::ServiceUnavailable,
                "Sessions cannot be checked right now; please retry shortly",
            ));
        }
    }
    let organization = redeemed.organization_id;
    let mut tx = state
        .db()
        .begin_tenant(organization, Some(grant.user))
        .await?;
    let care_team = if grant.role == Role::Clinician {
        store::care_team_of(&mut tx, grant.user).await?
    } else {
        HashSet::new()
    };
    let subscription = state
        .realtime()
        .join(
            organization,
            Audience::new(grant.user, grant.role, care_team),
        )
        .await
        .map_err(|error| match error {
            SubscribeError::TooManySockets => AppError::new(
                ErrorCode::RateLimited,
                "At most 5 realtime connections per user (on every instance together); close one first",
            ),
            SubscribeError::Closing => AppError::new(
                ErrorCode::ServiceUnavailable,
                "This instance is shutting down; please reconnect",
            ),
        })?;
    let method = if grant.role == Role::SuperAdmin {
        AccessMethod::SuperAdminBypass
    } else {
        AccessMethod::Normal
    };
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::RealtimeConnect)
            .by(Actor::new(grant.user, grant.role))
            .with_access_method(method)
            .with_entity("realtime_session", grant.session)
            .with_details(json!({ "since": query.since }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    let session = Session {
        state: state.clone(),
        organization,
        grant,
        method,
        since: query.since,
        subscription,
        meta,
    };
    Ok(upgrade
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        // Small buffers: a socket receives frames of at most 4 KiB and sends events of a few
        // hundred bytes, so tungstenite's 128 KiB defaults (each way) would be ~250 KiB a socket
        // for nothing (SPEC §10: 1,000 sockets in < 50 MB).
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER)
        .on_upgrade(move |websocket| socket::run(websocket, session)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICKET: &str = "hrt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn the_query_takes_a_ticket_and_since_and_nothing_else() {
        let query = parse_query(Some(&format!("ticket={TICKET}&since=42"))).expect("valid");
        assert_eq!((query.ticket.as_str(), query.since), (TICKET, Some(42)));
        for bad in [
            String::new(),
            format!("ticket={TICKET}&access_token=abc"),
            format!("ticket={TICKET}&since=-1"),
            format!("ticket={TICKET}&ticket={TICKET}"),
            "ticket=eyJhbGciOiJFZERTQSJ9.e30.c2ln".to_owned(),
        ] {
            assert!(parse_query(Some(&bad)).is_err(), "{bad}");
        }
    }
}
