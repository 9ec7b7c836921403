//! `/api/security`: security incidents found by the breach detector and the practice's
//! detection rules (SPEC §8 "Breach detection"). Who may is `crate::policy::security`'s decision;
//! the detection itself is `crate::security`.

mod codec;
mod containment;
mod get;
mod list;
mod lookup;
mod risk_assessment;
mod rules;
mod transition;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/security`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list_incidents))
        .routes(routes!(get::get_incident))
        .routes(routes!(transition::transition_incident))
        .routes(routes!(risk_assessment::assess_incident))
        .routes(routes!(containment::contain_incident))
        .routes(routes!(rules::list_detection_rules))
        .routes(routes!(rules::update_detection_rule))
}
