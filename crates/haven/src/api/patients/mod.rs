//! `/api/patients`: demographics (encrypted per field) and care teams. Every PHI read and every
//! write is audited with patient ids, never values; access decisions come from `crate::policy`.

mod care_team;
pub(crate) mod codec;
mod create;
mod delete;
mod get;
mod list;
pub(crate) mod lookup;
mod update;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/patients`. (A GET route answers HEAD too, as with axum's
/// `get`.)
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list_patients, create::create_patient))
        .routes(routes!(
            get::get_patient,
            update::update_patient,
            delete::delete_patient
        ))
        .routes(routes!(
            care_team::get_care_team,
            care_team::add_care_team_member
        ))
        .routes(routes!(care_team::remove_care_team_member))
}
