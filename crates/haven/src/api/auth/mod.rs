//! `/api/auth/*`: login, refresh, logout, the caller's account, password and MFA.
//! Every route here is rate limited per client IP.

mod login;
mod logout;
mod me;
mod mfa;
pub(crate) mod mfa_check;
mod password;
mod refresh;
pub(crate) mod session;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/auth`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login::login))
        .routes(routes!(refresh::refresh))
        .routes(routes!(logout::logout))
        .routes(routes!(me::me))
        .routes(routes!(password::change_password))
        .routes(routes!(mfa::setup_mfa))
        .routes(routes!(mfa::confirm_mfa))
        .routes(routes!(mfa::disable_mfa))
}

/// After a change that ends sessions commits, this instance re-reads the revocation set at
/// once (the others within their next read, ≤ 0.5 s). A failed read is caught up by the next.
pub(crate) async fn reread_revocations(state: &AppState) {
    if let Err(error) = state.revocations().refresh_now().await {
        tracing::warn!(error = %crate::telemetry::loggable(&error), "re-reading the revoked sessions failed; the next read catches up");
    }
}
