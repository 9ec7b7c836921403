//! The metrics listener (`HAVEN_METRICS_BIND`, default `127.0.0.1:9464`): `GET /metrics` in the
//! Prometheus text format, nothing else. It is a separate listener so that the public API port
//! never exposes operational data, and a scrape never competes with the API's middleware.
//!
//! Gauges that describe the database (pool connections, users per hash algorithm) and the key
//! rotation counter are read at scrape time, with a short timeout: a scrape during a database
//! outage still answers, with the last values it could read.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use super::metrics;
use crate::app::AppState;

/// The Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a scrape waits for the database gauges.
const DB_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// The listener's routes: `GET /metrics`; anything else is 404.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn scrape(State(state): State<AppState>) -> Response {
    let handle = metrics::install();
    let pool = state.db().stats();
    metrics::db_pool(pool.idle, pool.size.saturating_sub(pool.idle), pool.max);
    match tokio::time::timeout(
        DB_READ_TIMEOUT,
        state.db().platform().password_hash_algorithms(),
    )
    .await
    {
        Ok(Ok(counts)) => metrics::password_hashes(&counts),
        Ok(Err(error)) => {
            tracing::warn!(error = %crate::telemetry::loggable(&error), "reading password hash counts for /metrics")
        }
        Err(_) => tracing::warn!("reading password hash counts for /metrics timed out"),
    }
    match tokio::time::timeout(DB_READ_TIMEOUT, state.db().wal_archiver()).await {
        Ok(Ok(Some(archiver))) => metrics::wal_archive(archiver.failing, archiver.failed_count),
        Ok(Ok(None)) => {}
        Ok(Err(error)) => {
            tracing::warn!(error = %crate::telemetry::loggable(&error), "reading the WAL archiver for /metrics")
        }
        Err(_) => tracing::warn!("reading the WAL archiver for /metrics timed out"),
    }
    let rotations = match tokio::time::timeout(
        DB_READ_TIMEOUT,
        state.db().platform().key_rotations(),
    )
    .await
    {
        Ok(Ok(total)) => Some(total),
        Ok(Err(error)) => {
            tracing::warn!(error = %crate::telemetry::loggable(&error), "reading key rotations for /metrics");
            None
        }
        Err(_) => {
            tracing::warn!("reading key rotations for /metrics timed out");
            None
        }
    };
    handle.run_upkeep();
    let mut text = handle.render();
    metrics::render_key_rotations(&mut text, rotations);
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response()
}
