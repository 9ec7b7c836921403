//! `/api/appointments`: booking a patient with a clinician (SPEC §6). Who may is
//! `crate::policy::appointments`'s decision; overlaps are refused by the database.

pub(crate) mod codec;
pub(crate) mod create;
mod get;
mod list;
pub(crate) mod lookup;
mod reschedule;
mod series;
mod transition;
pub(crate) mod units;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/appointments`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list_appointments, create::book_appointment))
        .routes(routes!(get::get_appointment))
        .routes(routes!(transition::confirm_appointment))
        .routes(routes!(transition::check_in_appointment))
        .routes(routes!(transition::cancel_appointment))
        .routes(routes!(transition::no_show_appointment))
        .routes(routes!(reschedule::reschedule_appointment))
}

/// The routes, relative to `/api/appointment-series`.
pub fn series_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(series::create_series))
        .routes(routes!(series::cancel_series))
}
