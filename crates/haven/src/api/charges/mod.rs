//! `/api/charges`: the billable lines of completed sessions (SPEC §6 "Charges"). A charge is
//! made by the session's completion (`crate::units::ledger::complete`); its holds are computed
//! (`crate::store::charges::reevaluate`); who may is `crate::policy::charges`'s.

mod codec;
mod get;
mod list;
mod lookup;
mod transition;
mod update;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/charges`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list_charges))
        .routes(routes!(get::get_charge, update::update_charge))
        .routes(routes!(transition::hold_charge))
        .routes(routes!(transition::release_charge))
        .routes(routes!(transition::void_charge))
}
