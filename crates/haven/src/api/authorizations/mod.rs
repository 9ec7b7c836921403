//! `/api/authorizations`: insurance authorizations and their units (SPEC §5). The unit
//! arithmetic lives in `crate::units`; access decisions come from `crate::policy`.

mod adjust;
mod codec;
mod create;
mod get;
mod list;
pub(crate) mod lookup;

pub(crate) use create::parse_date;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/authorizations`. (A GET route answers HEAD too, as with axum's
/// `get`.)
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            list::list_authorizations,
            create::create_authorization
        ))
        .routes(routes!(get::get_authorization))
        .routes(routes!(adjust::adjust_authorization))
}
