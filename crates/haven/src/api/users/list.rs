//! `GET /api/users` (ADMIN).

use axum::extract::State;
use serde_json::{Value, json};

use super::MANAGERS;
use crate::api::access::require_role;
use crate::api::pagination::{Page, PageQuery};
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::store::users;

/// `GET /api/users?page&limit` → `{users, pagination}`.
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<PageQuery>,
) -> Result<AppJson<Value>, AppError> {
    require_role(&state, &caller, &meta, MANAGERS, "list_users").await?;
    let page = Page::try_from(query)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (items, total) = users::list(&mut tx, page.limit, page.offset()).await?;
    tx.commit().await?;
    Ok(AppJson(
        json!({ "users": items, "pagination": page.info(total) }),
    ))
}
