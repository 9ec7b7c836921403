//! `GET /api/auth/me`.

use axum::extract::State;

use crate::api::users::UserResponse;
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::store::users;

/// The signed-in user
///
/// The caller's own account. A token whose account was disabled or removed answers 401.
#[utoipa::path(
    get,
    path = "/me",
    tag = "auth",
    responses((status = 200, description = "The caller's account", body = UserResponse)),
)]
pub async fn me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<AppJson<UserResponse>, AppError> {
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
    Ok(AppJson(UserResponse { user }))
}
