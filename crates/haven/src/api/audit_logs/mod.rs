//! `/api/audit-logs` (ADMIN, COMPLIANCE; own organization only): query, verify, export.

mod export;
mod filter;
mod list;
mod verify;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/audit-logs`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list::list_audit_logs))
        .routes(routes!(verify::verify_audit_log))
        .routes(routes!(export::export_audit_log))
}
