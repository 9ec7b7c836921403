//! `GET /api/availability`: free slots of any number of clinicians (SPEC §6), one statement.

mod find;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/availability`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(find::find_slots))
}
