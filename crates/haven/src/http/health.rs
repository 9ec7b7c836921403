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
    /// Readiness only, when something needs an operator without stopping traffic: `walArchive`
    /// says WAL archiving is failing (backups fall behind).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    details: Option<ReadyDetails>,
}

/// What `/ready` reports beside its status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadyDetails {
    /// Why WAL archiving is failing, and since when.
    #[schema(example = "failing: 3 failed attempts, the last at 2027-03-15T13:00:00Z")]
    wal_archive: String,
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
    AppJson(Status {
        status: "ok",
        details: None,
    })
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
    // Archiving that fails does not stop traffic, but an operator must see it.
    let details = match tokio::time::timeout(READY_TIMEOUT, state.db().wal_archiver()).await {
        Ok(Ok(Some(archiver))) if archiver.failing => Some(ReadyDetails {
            wal_archive: format!(
                "failing: {} failed attempts, the last at {}",
                archiver.failed_count,
                archiver
                    .last_failed_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            ),
        }),
        _ => None,
    };
    Ok(AppJson(Status {
        status: "ready",
        details,
    }))
}
