//! `POST /api/auth/logout`: ends the caller's session (its refresh family).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::auth::cookies;
use crate::http::error::AppError;
use crate::http::meta::Meta;
use crate::store::sessions::{self, RevokeReason};

/// Sign out
///
/// Ends the caller's session: its refresh token (and every token rotated from it) stops
/// working and the session cookies are cleared. The current access token stays valid until it
/// expires (at most 15 minutes by default), so clients should discard it.
#[utoipa::path(
    post,
    path = "/logout",
    tag = "auth",
    responses((status = 204, description = "Signed out; the session cookies are cleared")),
)]
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
) -> Result<Response, AppError> {
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    sessions::revoke_family(&mut tx, caller.session_id, RevokeReason::Logout).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::Logout)
            .by(caller.actor())
            .with_entity("session", caller.session_id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    super::reread_revocations(&state).await;
    let secure = state.auth_config().secure_cookies;
    let mut headers = HeaderMap::new();
    headers.append(
        header::SET_COOKIE,
        cookies::clear(cookies::ACCESS, "/", secure),
    );
    headers.append(
        header::SET_COOKIE,
        cookies::clear(cookies::REFRESH, "/api/auth", secure),
    );
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}
