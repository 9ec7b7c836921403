//! `/api/auth/*`: login, refresh, logout, the caller's account, password and MFA.
//! Every route here is rate limited per client IP.

mod login;
mod logout;
mod me;
mod mfa;
mod mfa_check;
mod password;
mod refresh;
pub(crate) mod session;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;

/// The routes, relative to `/api/auth`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", post(login::login))
        .route("/refresh", post(refresh::refresh))
        .route("/logout", post(logout::logout))
        .route("/me", get(me::me))
        .route("/password", post(password::change_password))
        .route("/mfa/setup", post(mfa::setup_mfa))
        .route("/mfa/confirm", post(mfa::confirm_mfa))
        .route("/mfa/disable", post(mfa::disable_mfa))
}
