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

/// `POST /api/auth/logout` → 204.
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
            .with_actor(caller.user_id, caller.role)
            .with_entity("session", caller.session_id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
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
