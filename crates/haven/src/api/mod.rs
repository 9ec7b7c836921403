//! The `/api` routes. One module per resource; handlers are named `<verb>_<resource>`.

pub mod access;
pub mod appointments;
pub mod audit_logs;
pub mod auth;
pub mod authorizations;
pub mod btg;
pub mod charge_exports;
pub mod charges;
pub mod clinicians;
pub mod fee_schedule;
pub mod maintenance;
pub mod notes;
pub mod organization_settings;
pub mod organizations;
pub mod pagination;
pub mod patients;
pub mod realtime;
pub mod security;
pub mod slots;
pub mod therapy_sessions;
mod time_range;
pub mod users;
pub mod waitlist;

use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::http::rate_limit::{AuthRateLimit, auth_rate_limit};

/// Everything under `/api`, each route with its documentation.
pub fn routes(state: &AppState) -> OpenApiRouter<AppState> {
    let limit = AuthRateLimit::from_config(state.limiter().clone(), state.auth_config());
    OpenApiRouter::new()
        .nest(
            "/auth",
            auth::routes().layer(axum::middleware::from_fn_with_state(limit, auth_rate_limit)),
        )
        .nest("/admin/organizations", organizations::routes())
        .nest("/admin/btg", btg::routes())
        .nest("/users", users::routes())
        .nest("/audit-logs", audit_logs::routes())
        .nest("/patients", patients::routes())
        .nest("/authorizations", authorizations::routes())
        .nest("/sessions", therapy_sessions::routes())
        .nest("/admin/maintenance", maintenance::routes())
        .nest("/organization/settings", organization_settings::routes())
        .nest("/clinicians", clinicians::routes())
        .nest("/appointments", appointments::routes())
        .nest("/appointment-series", appointments::series_routes())
        .nest("/availability", slots::routes())
        .nest("/waitlist", waitlist::routes())
        .nest("/waitlist-offers", waitlist::offer_routes())
        .nest("/notes", notes::routes())
        .nest("/security", security::routes())
        .nest("/realtime", realtime::routes())
        .nest("/charges", charges::routes())
        .nest("/fee-schedule", fee_schedule::routes())
        .nest("/charge-exports", charge_exports::routes())
}
