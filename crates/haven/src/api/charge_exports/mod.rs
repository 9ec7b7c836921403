//! `/api/charge-exports`: READY charges (and voids and replacements of exported ones) written
//! out as CSV or 837P-shaped JSON (SPEC §6 "Charges"). ADMIN and BILLING only.

mod codec;
mod create;
mod download;
mod list;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/charge-exports`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            list::list_charge_exports,
            create::create_charge_export
        ))
        .routes(routes!(download::download_charge_export))
}
