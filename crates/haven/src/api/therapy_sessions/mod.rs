//! `/api/sessions`: therapy sessions and the units they hold (SPEC §5). Named apart from the
//! login sessions of `/api/auth`.

mod codec;
mod get;
mod list;
pub(crate) mod lookup;
mod reserve;
mod transition;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/sessions`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list_sessions, reserve::reserve_session))
        .routes(routes!(get::get_session))
        .routes(routes!(transition::start_session))
        .routes(routes!(transition::complete_session))
        .routes(routes!(transition::cancel_session))
}
