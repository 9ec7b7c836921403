//! `POST /api/admin/maintenance/cleanup-stale`: release stale reservations now (ADMIN: their
//! organization; SUPER_ADMIN: every organization, or the one it acts in).

use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::policy::units as policy;
use crate::store::sessions_units::CleanupActor;
use crate::units::cleanup::{self, CleanupReport, Wait};

/// The routes, relative to `/api/admin/maintenance`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(cleanup_stale))
}

/// `?olderThanMinutes=` (default `HAVEN_STALE_THRESHOLD_MINUTES`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct CleanupQuery {
    /// How long after its planned end (start time plus reserved duration) a SCHEDULED or
    /// IN_PROGRESS session counts as stale, in minutes (default: the server's
    /// `HAVEN_STALE_THRESHOLD_MINUTES`, 60 unless configured).
    #[param(minimum = 1, maximum = 10_080)]
    older_than_minutes: Option<i64>,
}

/// Release stale reservations now
///
/// Cancels every SCHEDULED or IN_PROGRESS session whose start time plus its reserved duration
/// plus the threshold has passed, and gives its units back to its authorization (ADMIN: their
/// organization; SUPER_ADMIN: every organization, or the one it acts in). The same job runs in
/// the background every few minutes. Each released session gets its own
/// `STALE_RESERVATION_RELEASED` audit event naming the caller.
#[utoipa::path(
    post,
    path = "/cleanup-stale",
    tag = "maintenance",
    params(CleanupQuery),
    responses((status = 200, description = "What was released", body = CleanupReport)),
)]
pub async fn cleanup_stale(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<CleanupQuery>,
) -> Result<AppJson<CleanupReport>, AppError> {
    policy::clean_stale(&caller)?;
    let threshold = match query.older_than_minutes {
        None => state.stale_threshold_minutes(),
        Some(minutes) => i32::try_from(minutes)
            .ok()
            .filter(|m| (1..=10_080).contains(m))
            .ok_or_else(|| {
                AppError::invalid_field(
                    "olderThanMinutes",
                    "must be a whole number from 1 to 10080",
                )
            })?,
    };
    // A platform operator outside any practice cleans them all; inside one (or an ADMIN), that
    // one only.
    let scope = (!caller.organization_id.is_platform()).then_some(caller.organization_id);
    let actor = CleanupActor {
        user_id: Some(caller.user_id),
        role: Some(caller.role.as_str()),
        request_id: meta.request_id.as_deref(),
        trigger: "api",
    };
    let report = cleanup::clean(state.db(), scope, threshold, &actor, Wait::Block).await?;
    Ok(AppJson(report))
}
