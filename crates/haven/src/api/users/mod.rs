//! `/api/users`: an organization's admins manage its accounts.

mod create;
mod get;
mod list;
mod supervision;
mod update;

use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::store::users::User;

/// `{"user": {...}}`: one account, as `/api/users` and `GET /api/auth/me` answer it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    /// The account.
    pub user: User,
}

/// The routes, relative to `/api/users`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list_users, create::create_user))
        .routes(routes!(get::get_user, update::update_user))
        .routes(routes!(supervision::set_supervision))
}
