//! `/api/sessions`: therapy sessions and the units they hold (SPEC §5). Named apart from the
//! login sessions of `/api/auth`.

mod codec;
mod get;
mod list;
mod lookup;
mod reserve;
mod transition;

use axum::Router;
use axum::routing::{get as get_route, post};

use crate::app::AppState;

/// The routes, relative to `/api/sessions`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get_route(list::list_sessions).post(reserve::reserve_session),
        )
        .route("/{id}", get_route(get::get_session))
        .route("/{id}/start", post(transition::start_session))
        .route("/{id}/complete", post(transition::complete_session))
        .route("/{id}/cancel", post(transition::cancel_session))
}
