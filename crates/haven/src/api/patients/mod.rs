//! `/api/patients`: demographics (encrypted per field) and care teams. Every PHI read and every
//! write is audited with patient ids, never values; access decisions come from `crate::policy`.

mod care_team;
mod codec;
mod create;
mod delete;
mod get;
mod list;
mod lookup;
mod update;

use axum::Router;
use axum::routing::{delete as delete_route, get as get_route};

use crate::app::AppState;

/// The routes, relative to `/api/patients`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get_route(list::list_patients).post(create::create_patient),
        )
        .route(
            "/{id}",
            get_route(get::get_patient)
                .patch(update::update_patient)
                .delete(delete::delete_patient),
        )
        .route(
            "/{id}/care-team",
            get_route(care_team::get_care_team).post(care_team::add_care_team_member),
        )
        .route(
            "/{id}/care-team/{user_id}",
            delete_route(care_team::remove_care_team_member),
        )
}
