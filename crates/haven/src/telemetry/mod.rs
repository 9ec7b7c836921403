//! Logging: JSON lines (or pretty text) through `tracing`, filtered by `HAVEN_LOG`.
//!
//! Nothing logs request bodies, headers or query strings; handlers record ids, never values.
//! Panics are logged with their location only: a panic message can quote data.
//!
//! Metrics (SPEC §9) are in [`metrics`], served on their own listener by [`metrics_server`].

pub mod loggable;
pub mod metrics;
pub mod metrics_server;

pub use loggable::loggable;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

/// Installs the global subscriber and the panic hook. Call once, first thing.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_span_events(FmtSpan::NONE);
    // Another subscriber may already be installed (tests); keeping it is fine.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%location, "panic");
    }));
}
