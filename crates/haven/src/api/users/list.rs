//! `GET /api/users` (ADMIN).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::pagination::{Page, PageQuery, Pagination};
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::policy::users as policy;
use crate::store::users::{self, User};

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    /// The accounts of this page.
    users: Vec<User>,
    /// Where the page is in the whole list.
    pagination: Pagination,
}

/// List the organization's users
///
/// The accounts of the caller's organization, oldest first, a page at a time (ADMIN; a
/// SUPER_ADMIN sees the platform operators, or a practice's accounts when acting in it).
#[utoipa::path(
    get,
    path = "/",
    tag = "users",
    params(PageQuery),
    responses((status = 200, description = "A page of the organization's accounts", body = UserList)),
)]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Meta(_meta): Meta,
    AppQuery(query): AppQuery<PageQuery>,
) -> Result<AppJson<UserList>, AppError> {
    policy::manage(&caller, "list_users")?;
    let page = Page::try_from(query)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (items, total) = users::list(&mut tx, page.limit, page.offset()).await?;
    tx.commit().await?;
    Ok(AppJson(UserList {
        users: items,
        pagination: page.info(total),
    }))
}
