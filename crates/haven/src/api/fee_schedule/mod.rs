//! `/api/fee-schedule`: the practice's effective-dated rates, which price new charges (SPEC §6
//! "Charges").

mod replace;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/fee-schedule`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(replace::replace_fee_schedule))
}
