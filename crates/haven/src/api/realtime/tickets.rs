//! `POST /api/realtime/tickets` (any signed-in user of a practice, or a platform operator in
//! the platform organization).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::ids::TicketId;
use crate::policy::method_of;
use crate::policy::realtime as policy;
use crate::realtime::ticket;
use crate::store::realtime::{self as store, NewTicket};

/// A ticket: present it once, within 30 seconds, as `GET {url}?ticket=…`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketResponse {
    /// The single-use secret (`hrt_` and 43 characters). Shown once; only its hash is kept.
    #[schema(example = "hrt_3q2-7wEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    ticket: String,
    /// After this instant the ticket is refused.
    expires_at: DateTime<Utc>,
    /// Where to open the WebSocket.
    #[schema(example = "/api/realtime")]
    url: &'static str,
}

/// Issue a realtime ticket
///
/// Returns a random, single-use ticket valid for 30 seconds, bound to the caller, their
/// organization, role and login session. Stored hashed. The WebSocket upgrade
/// (`GET /api/realtime?ticket=…`) carries it instead of a token, so that no token ever travels
/// in a URL. Audited `REALTIME_TICKET_ISSUE`.
#[utoipa::path(
    post,
    path = "/tickets",
    tag = "realtime",
    responses(
        (status = 201, description = "The ticket", body = TicketResponse),
    ),
)]
pub async fn create_ticket(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
) -> Result<(StatusCode, AppJson<TicketResponse>), AppError> {
    let may = policy::issue_ticket(&caller, "issue_realtime_ticket")?;
    let (secret, hash) =
        ticket::generate().map_err(|e| AppError::Internal(anyhow::anyhow!("OS RNG: {e}")))?;
    let id = TicketId::new();
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let expires_at = store::insert_ticket(
        &mut tx,
        &may,
        &NewTicket {
            id,
            hash: &hash,
            user: caller.user_id,
            role: caller.role,
            session: caller.session_id,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::RealtimeTicketIssue)
            .by(caller.actor())
            .with_access_method(method_of(&caller))
            .with_entity("realtime_ticket", id)
            .with_details(json!({ "sessionId": caller.session_id, "expiresAt": expires_at }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        AppJson(TicketResponse {
            ticket: secret.to_string(),
            expires_at,
            url: "/api/realtime",
        }),
    ))
}
