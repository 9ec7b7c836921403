//! `/api/admin/organizations`: platform operators create practices and their first admin.

mod create;
mod list;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/admin/organizations`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(
        list::list_organizations,
        create::create_organization
    ))
}
