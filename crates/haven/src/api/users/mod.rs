//! `/api/users`: an organization's admins manage its accounts.

mod create;
mod get;
mod list;
mod update;

use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::domain::Role;
use crate::ids::OrganizationId;
use crate::store::users::User;

/// Who may manage users: a practice's admins (and platform operators, for the platform's own
/// operators).
pub(crate) const MANAGERS: &[Role] = &[Role::Admin, Role::SuperAdmin];

/// The roles `manager` may give in `organization`: a practice's admin (or a platform operator
/// acting in a practice) any practice role; a platform operator in the platform organization only
/// platform operators. SUPER_ADMIN never goes into a practice.
pub(crate) fn assignable(manager: Role, organization: OrganizationId, role: Role) -> bool {
    let in_platform = organization == OrganizationId::PLATFORM;
    match manager {
        Role::SuperAdmin if in_platform => role == Role::SuperAdmin,
        Role::SuperAdmin | Role::Admin => role != Role::SuperAdmin && !in_platform,
        _ => false,
    }
}

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
}
