//! `GET /api/auth/me`.

use axum::extract::State;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::store::users;

/// `GET /api/auth/me` → `{user}`.
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<AppJson<Value>, AppError> {
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let user = users::find(&mut tx, caller.user_id).await?;
    tx.commit().await?;
    // A token for an account that is gone or disabled no longer authenticates anyone.
    let user = user.filter(|u| !u.disabled).ok_or_else(|| {
        AppError::new(
            ErrorCode::Unauthenticated,
            ErrorCode::Unauthenticated.default_message(),
        )
    })?;
    Ok(AppJson(json!({ "user": user })))
}
