//! Building the router and serving it; reused as is by the tests.
//!
//! Connections are served by hyper directly (not `axum::serve`) so that the transport limits a
//! public service needs can be set: a client must send its request head within
//! [`ConnectionLimits::header_read_timeout`] (this also closes idle keep-alive connections), and
//! a head larger than [`ConnectionLimits::max_head_bytes`] is refused by hyper before any
//! handler runs. Finer limits with the error envelope (header count and size, URI length) are
//! middleware (`http::limits`); the body cap and the request timeout are layers too.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::app::AppState;

/// Haven's whole HTTP API for `state`.
pub fn build_router(state: AppState) -> Router {
    crate::http::router(state)
}

/// Transport limits for every connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// A request head (request line and headers) must arrive within this; an idle keep-alive
    /// connection is closed after it too.
    pub header_read_timeout: Duration,
    /// The largest request head hyper buffers (the middleware's envelope limit is lower).
    pub max_head_bytes: usize,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_head_bytes: 64 * 1024,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits for
/// in-flight requests to finish.
pub async fn launch(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    launch_with(listener, router, shutdown, ConnectionLimits::default()).await
}

/// [`launch`] with explicit transport limits.
pub async fn launch_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192))
        .keep_alive(true);
    let builder = builder.http1_only();
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %crate::telemetry::loggable(&error), "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            })
            .map_err(|never: Infallible| match never {});
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are the client's (reset, timeout, malformed head): nothing to report
            // beyond a debug line.
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the drain timeout");
    }
    Ok(())
}
