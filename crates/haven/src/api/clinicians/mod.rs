//! `/api/clinicians/{userId}/...`: a clinician's weekly availability and time off (SPEC §6).
//! ADMIN, SCHEDULER and the clinician themself (`crate::policy::appointments`).

mod codec;
mod create_block;
mod delete_block;
mod get_availability;
pub(crate) mod lookup;
mod set_availability;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/clinicians`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            get_availability::get_availability,
            set_availability::set_availability
        ))
        .routes(routes!(create_block::create_block))
        .routes(routes!(delete_block::delete_block))
}
