//! `/api/admin/organizations`: platform operators create practices and their first admin.

mod create;
mod list;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;

/// The routes, relative to `/api/admin/organizations`.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/",
        get(list::list_organizations).post(create::create_organization),
    )
}
