//! `GET /api/users/{id}` (ADMIN).

use axum::extract::State;

use super::UserResponse;
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::UserId;
use crate::policy::Denial;
use crate::policy::users as policy;
use crate::store::users;

/// Get a user
///
/// One account of the caller's organization (ADMIN). An account of another organization is a
/// 404, like one that does not exist, and the attempt is audited.
#[utoipa::path(
    get,
    path = "/{id}",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "The account", body = UserResponse)),
)]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Meta(_meta): Meta,
    AppPath(id): AppPath<UserId>,
) -> Result<AppJson<UserResponse>, AppError> {
    policy::manage(&caller, "get_user")?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let user = users::find(&mut tx, id).await?;
    let Some(user) = user else {
        let owner = users::organization_of(&mut tx, id).await?;
        return Err(Denial::not_found(&caller, "user", id, owner).into());
    };
    tx.commit().await?;
    Ok(AppJson(UserResponse { user }))
}
