//! `GET /api/users/{id}` (ADMIN).

use axum::extract::State;
use serde_json::{Value, json};

use super::MANAGERS;
use crate::api::access::{not_found, require_role};
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::UserId;
use crate::store::users;

/// `GET /api/users/{id}` → `{user}`; another organization's user is a 404 (audited).
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<UserId>,
) -> Result<AppJson<Value>, AppError> {
    require_role(&state, &caller, &meta, MANAGERS, "get_user").await?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let user = users::find(&mut tx, id).await?;
    let Some(user) = user else {
        let owner = users::organization_of(&mut tx, id).await?;
        tx.commit().await?;
        return Err(not_found(&state, &caller, &meta, "user", id, owner).await);
    };
    tx.commit().await?;
    Ok(AppJson(json!({ "user": user })))
}
