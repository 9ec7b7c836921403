//! `/api/authorizations`: insurance authorizations and their units (SPEC §5). The unit
//! arithmetic lives in `crate::units`; access decisions come from `crate::policy`.

mod adjust;
mod codec;
mod create;
mod get;
mod list;
pub(crate) mod lookup;

pub(crate) use create::parse_date;

use axum::Router;
use axum::routing::{get as get_route, post};

use crate::app::AppState;

/// The routes, relative to `/api/authorizations`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get_route(list::list_authorizations).post(create::create_authorization),
        )
        .route("/{id}", get_route(get::get_authorization))
        .route("/{id}/adjust", post(adjust::adjust_authorization))
}
