//! `/api/realtime`: tickets, the upgrade, the events each role receives, and the socket's
//! rules (heartbeat, client frames, closing).

mod access;
mod connect;
mod events;
mod feeds;
mod instances;
mod limits;
mod socket;
mod tickets;
