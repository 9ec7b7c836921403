//! `/api/realtime`: single-use tickets, and the WebSocket they open (SPEC §8 "Realtime
//! notifications"). Who receives what is `crate::policy::realtime`'s decision; the events,
//! the hub and the tailer are `crate::realtime`'s. This module owns the HTTP and WebSocket
//! edges: issuing a ticket, checking an upgrade, and the socket's frames.

mod connect;
mod socket;
mod tickets;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

/// The routes, relative to `/api/realtime`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tickets::create_ticket))
        .routes(routes!(connect::connect_realtime))
}
