//! Realtime notifications (SPEC §8): thin events derived from the sealed audit chain, pushed
//! over WebSockets opened with single-use tickets.
//!
//! - [`ticket`]: the tickets' secrets and hashes;
//! - [`events`]: the one table from audited actions to events, and the event frames;
//! - [`hub`]: this instance's sockets and the fan-out to those entitled to each event;
//! - [`cap`]: with Redis, the five-sockets-per-user cap across instances;
//! - [`tailer`]: the background reader of the sealed chain (each instance for itself);
//! - [`fanout`]: with Redis, one leader reads and publishes, every instance delivers.
//!
//! The socket itself (frames, heartbeats, closing) is the HTTP layer's (`api::realtime`);
//! who receives what is `policy::realtime`'s.

pub mod cap;
pub mod events;
pub mod fanout;
pub mod hub;
pub mod tailer;
pub mod ticket;

use std::time::Duration;

use chrono::{DateTime, Utc};

/// A ticket is redeemable this long after it is issued.
pub const TICKET_TTL: Duration = Duration::from_secs(30);

/// A server heartbeat goes out this often.
pub const HEARTBEAT: Duration = Duration::from_secs(25);

/// A socket lives at most this long (`HAVEN_REALTIME_MAX_LIFETIME_SECS` may shorten it); the
/// client then asks for a new ticket.
pub const MAX_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// `since` older than this (its first missed event) gets a `resync` instead of a replay.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(10 * 60);

/// More missed events than this get a `resync` instead of a replay.
pub const REPLAY_MAX: usize = 1000;

/// How often an open socket re-checks that its session, user and role still stand (SPEC: the
/// socket closes within 60 s of a revocation; the revocation set itself is re-read twice a
/// second).
pub const RECHECK: Duration = Duration::from_secs(5);

/// Whether a client resuming with `since` must resync rather than replay: more than
/// [`REPLAY_MAX`] events missed, or the oldest missed one (`oldest`) before [`REPLAY_WINDOW`].
#[must_use]
pub fn must_resync(missed: usize, oldest: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    let window = chrono::Duration::from_std(REPLAY_WINDOW).unwrap_or(chrono::Duration::MAX);
    missed > REPLAY_MAX || oldest.is_some_and(|at| at < now - window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_covers_up_to_1000_events_of_the_last_10_minutes() {
        let now = Utc::now();
        let recent = Some(now - chrono::Duration::minutes(9));
        let old = Some(now - chrono::Duration::minutes(11));
        assert!(!must_resync(0, None, now));
        assert!(!must_resync(1000, recent, now));
        assert!(must_resync(1001, recent, now));
        assert!(must_resync(1, old, now));
    }
}
