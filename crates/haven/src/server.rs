//! Building the router and serving it; reused as is by the tests.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

use crate::app::AppState;

/// Haven's whole HTTP API for `state`.
pub fn build_router(state: AppState) -> Router {
    crate::http::router(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits for
/// in-flight requests to finish.
pub async fn launch(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
