//! Liveness and readiness.

use std::time::Duration;

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{AppError, ErrorCode};
use super::json::AppJson;
use crate::app::AppState;
use crate::db::migrate;

/// How long `/ready` waits for the database before calling it unreachable.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok` (liveness) or `ready` (readiness).
    #[schema(example = "ok")]
    status: &'static str,
}

/// `GET /health`: the process is up. Touches nothing.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The process is up", body = Status)),
)]
pub async fn health() -> AppJson<Status> {
    AppJson(Status { status: "ok" })
}

/// `GET /ready`: the database answers and every migration this build carries is applied; else
/// 503, so a load balancer sends no traffic here.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The database answers and migrations are current", body = Status)),
)]
pub async fn ready(State(state): State<AppState>) -> Result<AppJson<Status>, AppError> {
    let applied = tokio::time::timeout(READY_TIMEOUT, state.db().applied_migrations())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| AppError::new(ErrorCode::ServiceUnavailable, "Database unreachable"))?;
    let pending = migrate::required_versions()
        .filter(|version| !applied.contains(version))
        .count();
    if pending > 0 {
        return Err(AppError::new(
            ErrorCode::ServiceUnavailable,
            format!("{pending} database migration(s) pending"),
        ));
    }
    Ok(AppJson(Status { status: "ready" }))
}
