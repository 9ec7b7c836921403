//! `/api/audit-logs` (ADMIN, COMPLIANCE; own organization only): query, verify, export.

mod export;
mod filter;
mod list;
mod verify;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;
use crate::domain::Role;

/// Who may read the audit log.
pub(crate) const READERS: &[Role] = &[Role::Admin, Role::Compliance];

/// The routes, relative to `/api/audit-logs`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(list::list_audit_logs))
        .route("/verify", get(verify::verify_audit_log))
        .route("/export", get(export::export_audit_log))
}
