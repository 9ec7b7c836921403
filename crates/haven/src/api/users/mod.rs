//! `/api/users`: an organization's admins manage its accounts.

mod create;
mod get;
mod list;
mod update;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;
use crate::domain::Role;

/// Who may manage users: a practice's admins (and platform operators, for the platform's own
/// operators).
pub(crate) const MANAGERS: &[Role] = &[Role::Admin, Role::SuperAdmin];

/// The roles `manager` may give: a practice's admin any practice role, a platform operator only
/// platform operators.
pub(crate) fn assignable(manager: Role, role: Role) -> bool {
    match manager {
        Role::SuperAdmin => role == Role::SuperAdmin,
        Role::Admin => role != Role::SuperAdmin,
        _ => false,
    }
}

/// The routes, relative to `/api/users`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(list::list_users).post(create::create_user))
        .route("/{id}", get(get::get_user).patch(update::update_user))
}
