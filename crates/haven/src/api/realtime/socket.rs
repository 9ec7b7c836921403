//! One open realtime socket: replay or resync, then live events, heartbeats, the client's
//! `subscribe` messages, and every reason to close.
//!
//! Events go out in sequence order and never twice: the socket joined the hub before reading
//! its replay, and skips any live event at or below the last sequence number it sent.

use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::audit::{self, AccessMethod, Actor, AuditAction, AuditEvent, RequestMeta};
use crate::auth::revocation::{Grant, Verdict};
use crate::ids::OrganizationId;
use crate::realtime::events::{Event, Signal, Topic, mapped_actions};
use crate::realtime::hub::Subscription;
use crate::realtime::{HEARTBEAT, RECHECK, REPLAY_MAX, must_resync};
use crate::store::realtime as store;

/// The session is over: revoked, the user disabled, their role changed, or 12 h reached.
pub(super) const CLOSE_REAUTHENTICATE: u16 = 4401;

/// Client frames per second beyond which the socket is closed (1008).
const MAX_FRAMES_PER_SECOND: u32 = 20;

/// A frame that cannot be written within this is a dead client.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a new socket waits for the tailer to cover its organization.
const TAIL_WAIT: Duration = Duration::from_secs(5);

/// Everything a socket's task needs, prepared before the upgrade.
pub(super) struct Session {
    pub(super) state: AppState,
    pub(super) organization: OrganizationId,
    pub(super) grant: Grant,
    pub(super) method: AccessMethod,
    pub(super) since: Option<i64>,
    pub(super) subscription: Subscription,
    pub(super) meta: RequestMeta,
}

/// Why the socket ended, for its close frame and the audit row.
#[derive(Debug, Clone, Copy)]
struct Ending {
    code: u16,
    reason: &'static str,
}

impl Ending {
    const fn new(code: u16, reason: &'static str) -> Self {
        Self { code, reason }
    }
}

/// A client message.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum ClientMessage {
    /// Narrow the socket to these topics.
    Subscribe { topics: Vec<String> },
}

fn error_frame(code: &str, message: &str) -> String {
    json!({ "type": "error", "error": code, "message": message }).to_string()
}

/// Sends `text`; `false` when the client is gone or too slow.
async fn send(socket: &mut WebSocket, text: String) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}

/// What the client said, and what to answer (`Err`: close).
fn on_client_text(session: &Session, text: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return error_frame("INVALID_MESSAGE", "Messages are JSON objects");
    };
    let Ok(message) = serde_json::from_value::<ClientMessage>(value) else {
        return error_frame(
            "UNKNOWN_MESSAGE",
            "The only message is {\"type\":\"subscribe\",\"topics\":[...]}",
        );
    };
    let ClientMessage::Subscribe { topics } = message;
    let audience = session.subscription.audience();
    let mut chosen = Vec::with_capacity(topics.len());
    for name in &topics {
        match Topic::parse(name) {
            None => return error_frame("UNKNOWN_TOPIC", "A topic is not known; nothing changed"),
            Some(topic) if !audience.may(topic) => {
                return error_frame(
                    "FORBIDDEN_TOPIC",
                    "A topic is not available to this role; nothing changed",
                );
            }
            Some(topic) => chosen.push(topic),
        }
    }
    audience.subscribe(&chosen);
    json!({
        "type": "subscribed",
        "topics": chosen.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
    })
    .to_string()
}

/// The missed events after `since`, or `None` when the client must resync (too many, too old,
/// or `since` beyond the chain's head).
async fn replay(session: &Session, since: i64) -> Result<Option<Vec<Event>>, sqlx::Error> {
    let pool = session.state.db().platform().pool();
    let limit = i32::try_from(REPLAY_MAX + 1).unwrap_or(i32::MAX);
    let rows = store::feed(pool, session.organization, since, &mapped_actions(), limit).await?;
    if must_resync(
        rows.len(),
        rows.first().map(|row| row.occurred_at),
        Utc::now(),
    ) {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .filter_map(|row| match Signal::from_row(row) {
                Some(Signal::Event(event)) => Some(event),
                _ => None,
            })
            .collect(),
    ))
}

/// The organization's current head (what a resyncing client resumes from).
async fn head(session: &Session) -> Result<i64, sqlx::Error> {
    let heads = store::heads(
        session.state.db().platform().pool(),
        &[session.organization],
    )
    .await?;
    Ok(heads.first().map_or(0, |(_, head)| *head))
}

/// Sends the replay (or a resync); returns the last sequence number sent.
async fn catch_up(session: &Session, socket: &mut WebSocket) -> Result<i64, Ending> {
    let Some(since) = session.since else {
        return Ok(0);
    };
    let failed = |error: sqlx::Error| {
        tracing::warn!(error = %crate::telemetry::loggable(&error), "realtime replay failed");
        Ending::new(close_code::ERROR, "replay failed; reconnect")
    };
    let gone = Ending::new(close_code::AWAY, "client gone");
    // A `since` past the head is not a position in this chain: start over.
    let head_now = head(session).await.map_err(failed)?;
    let missed = if since > head_now {
        None
    } else {
        replay(session, since).await.map_err(failed)?
    };
    match missed {
        Some(events) => {
            let mut last = since;
            for event in events {
                if session.subscription.audience().sees(&event)
                    && !send(socket, event.to_frame()).await
                {
                    return Err(gone);
                }
                last = last.max(event.seq);
            }
            Ok(last)
        }
        None => {
            let head = head(session).await.map_err(failed)?.max(head_now);
            let frame = json!({ "type": "resync", "seq": head }).to_string();
            if send(socket, frame).await {
                Ok(head)
            } else {
                Err(gone)
            }
        }
    }
}

/// Serves the socket until it ends, then closes it and audits `REALTIME_DISCONNECT`.
pub(super) async fn run(mut socket: WebSocket, mut session: Session) {
    let opened = Instant::now();
    let hub = session.state.realtime().clone();
    hub.wait_tailed(session.organization, TAIL_WAIT).await;
    let mut delivered: u64 = 0;
    let ending = match catch_up(&session, &mut socket).await {
        Err(ending) => ending,
        Ok(last) => serve(&mut socket, &mut session, last, &mut delivered).await,
    };
    let _ = tokio::time::timeout(
        SEND_TIMEOUT,
        socket.send(Message::Close(Some(CloseFrame {
            code: ending.code,
            reason: ending.reason.into(),
        }))),
    )
    .await;
    let Session {
        state,
        organization,
        grant,
        method,
        // Leaves the hub last, once the disconnect is written: shutdown waits for that.
        subscription: _subscription,
        meta,
        ..
    } = session;
    let event = AuditEvent::new(AuditAction::RealtimeDisconnect)
        .by(Actor::new(grant.user, grant.role))
        .with_access_method(method)
        .with_entity("realtime_session", grant.session)
        .with_details(json!({
            "closeCode": ending.code,
            "reason": ending.reason,
            "seconds": opened.elapsed().as_secs(),
            "eventsDelivered": delivered,
        }))
        .with_request(&meta);
    let written = async {
        let mut tx = state
            .db()
            .begin_tenant(organization, Some(grant.user))
            .await?;
        audit::record(&mut tx, &event).await?;
        tx.commit().await
    };
    if let Err(error) = written.await {
        tracing::error!(
            error = %crate::telemetry::loggable(&error),
            "REALTIME_DISCONNECT could not be audited"
        );
    }
}

/// The live part: events, heartbeats, client frames, re-checks, until something ends it.
async fn serve(
    socket: &mut WebSocket,
    session: &mut Session,
    mut last: i64,
    delivered: &mut u64,
) -> Ending {
    let start = tokio::time::Instant::now();
    let mut heartbeat = tokio::time::interval_at(start + HEARTBEAT, HEARTBEAT);
    let mut recheck = tokio::time::interval_at(start + RECHECK, RECHECK);
    let lifetime = tokio::time::sleep(session.state.realtime_max_lifetime());
    tokio::pin!(lifetime);
    let mut window_start = Instant::now();
    let mut frames_in_window: u32 = 0;
    loop {
        tokio::select! {
            biased;
            _ = session.subscription.closing.changed() => {
                return Ending::new(close_code::AWAY, "server shutting down");
            }
            () = &mut lifetime => {
                return Ending::new(CLOSE_REAUTHENTICATE, "maximum lifetime reached");
            }
            _ = recheck.tick() => {
                if session.state.revocations().check_grant(&session.grant) == Verdict::Revoked {
                    return Ending::new(CLOSE_REAUTHENTICATE, "session ended");
                }
            }
            event = session.subscription.events.recv() => {
                let Some(event) = event else {
                    return if session.subscription.overflowed() {
                        Ending::new(close_code::AGAIN, "too far behind")
                    } else {
                        Ending::new(close_code::ERROR, "hub closed")
                    };
                };
                if event.seq > last {
                    if !send(socket, event.to_frame()).await {
                        return Ending::new(close_code::AWAY, "client gone");
                    }
                    last = event.seq;
                    *delivered += 1;
                }
            }
            _ = heartbeat.tick() => {
                let frame = json!({ "type": "heartbeat", "seq": last }).to_string();
                if !send(socket, frame).await {
                    return Ending::new(close_code::AWAY, "client gone");
                }
                session.subscription.renew().await;
            }
            incoming = socket.recv() => {
                let message = match incoming {
                    None | Some(Ok(Message::Close(_))) => {
                        return Ending::new(close_code::NORMAL, "closed by the client");
                    }
                    Some(Err(error)) => {
                        tracing::debug!(error = %error, "realtime socket read failed");
                        return Ending::new(close_code::SIZE, "unreadable or oversized frame");
                    }
                    Some(Ok(message)) => message,
                };
                if window_start.elapsed() >= Duration::from_secs(1) {
                    window_start = Instant::now();
                    frames_in_window = 0;
                }
                frames_in_window += 1;
                if frames_in_window > MAX_FRAMES_PER_SECOND {
                    return Ending::new(close_code::POLICY, "too many messages");
                }
                let answer = match message {
                    Message::Text(text) => on_client_text(session, text.as_str()),
                    Message::Binary(_) => error_frame("INVALID_MESSAGE", "Messages are JSON text"),
                    Message::Ping(_) | Message::Pong(_) | Message::Close(_) => continue,
                };
                if !send(socket, answer).await {
                    return Ending::new(close_code::AWAY, "client gone");
                }
            }
        }
    }
}
