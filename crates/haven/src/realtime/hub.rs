//! The per-instance hub: the open sockets of each organization, and the fan-out of events to
//! those entitled to them.
//!
//! Each socket has a queue of [`QUEUE`] events. Publishing never waits: a socket whose queue
//! is full is dropped from the hub, and its task closes it with 1013 (its client fell too far
//! behind); the others are unaffected.
//!
//! A user holds at most [`MAX_SOCKETS_PER_USER`] sockets: on this instance always, and across
//! instances once a [`SharedCap`] (Redis) is attached ([`Hub::share_cap`], [`Hub::join`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};

use super::cap::{Lease, SharedCap};
use super::events::{Event, Signal};
use crate::ids::{OrganizationId, UserId};
use crate::policy::realtime::Audience;

/// Events a socket may have queued: one more and it is closed (1013).
pub const QUEUE: usize = 256;

/// Sockets one user may hold open (on an instance, and across instances with Redis).
pub const MAX_SOCKETS_PER_USER: usize = 5;

/// The sockets of this instance. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Hub(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    organizations: Mutex<HashMap<OrganizationId, Org>>,
    next_id: AtomicU64,
    closing: watch::Sender<bool>,
    /// Wakes the tailer when an organization gets its first socket.
    tailer: Notify,
    /// The cap across instances, with Redis.
    shared: OnceLock<SharedCap>,
}

#[derive(Debug, Default)]
struct Org {
    subscribers: Vec<Subscriber>,
    /// The tailer delivers this organization's events (set by the tailer).
    tailed: bool,
}

#[derive(Debug)]
struct Subscriber {
    id: u64,
    audience: Arc<Audience>,
    sender: mpsc::Sender<Arc<Event>>,
    overflowed: Arc<AtomicBool>,
}

/// Why a socket could not join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// The user already holds [`MAX_SOCKETS_PER_USER`] sockets (here, or anywhere with Redis).
    #[error("too many sockets for this user")]
    TooManySockets,
    /// The instance is shutting down.
    #[error("shutting down")]
    Closing,
}

/// One socket's place in the hub; leaving is dropping it.
#[derive(Debug)]
pub struct Subscription {
    hub: Hub,
    organization: OrganizationId,
    id: u64,
    audience: Arc<Audience>,
    /// The events for this socket, in sequence order.
    pub events: mpsc::Receiver<Arc<Event>>,
    overflowed: Arc<AtomicBool>,
    /// Becomes `true` when the instance shuts down (close with 1001).
    pub closing: watch::Receiver<bool>,
    /// Its slot in the shared cap (with Redis).
    lease: Option<Lease>,
}

impl Subscription {
    /// Whether the hub dropped this socket for falling [`QUEUE`] events behind.
    #[must_use]
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }

    /// Who this socket is for, and what it may see.
    #[must_use]
    pub fn audience(&self) -> &Audience {
        &self.audience
    }

    /// Renews the socket's slot in the shared cap, if it holds one (every heartbeat).
    pub async fn renew(&self) {
        if let Some(lease) = &self.lease {
            lease.renew().await;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.leave(self.organization, self.id);
        if let Some(lease) = self.lease.take() {
            // Without a runtime (never, in the server) the lease simply runs out.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(lease.release());
            }
        }
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    /// An empty hub.
    #[must_use]
    pub fn new() -> Self {
        Self(Arc::new(Inner {
            organizations: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            closing: watch::Sender::new(false),
            tailer: Notify::new(),
            shared: OnceLock::new(),
        }))
    }

    /// Caps each user's sockets across every instance sharing `cap`'s Redis from now on
    /// (`false` when a cap was attached already).
    pub fn share_cap(&self, cap: SharedCap) -> bool {
        self.0.shared.set(cap).is_ok()
    }

    /// Joins like [`Hub::subscribe`] and then, with a shared cap, takes one of the user's slots
    /// across instances: refused with [`SubscribeError::TooManySockets`] when they hold
    /// [`MAX_SOCKETS_PER_USER`] anywhere. When Redis does not answer, the socket is admitted on
    /// this instance's cap alone (see [`super::cap`]).
    pub async fn join(
        &self,
        organization: OrganizationId,
        audience: Audience,
    ) -> Result<Subscription, SubscribeError> {
        let user = audience.user();
        let mut subscription = self.subscribe(organization, audience)?;
        let Some(cap) = self.0.shared.get() else {
            return Ok(subscription);
        };
        match cap.admit(user, subscription.id).await {
            Ok(Some(lease)) => subscription.lease = Some(lease),
            // Dropping the subscription leaves the hub again.
            Ok(None) => return Err(SubscribeError::TooManySockets),
            Err(error) => {
                tracing::warn!(%error, "the shared realtime socket cap is unreachable; admitted on this instance's cap");
            }
        }
        Ok(subscription)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OrganizationId, Org>> {
        self.0
            .organizations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins a socket of `audience` in `organization`.
    pub fn subscribe(
        &self,
        organization: OrganizationId,
        audience: Audience,
    ) -> Result<Subscription, SubscribeError> {
        if *self.0.closing.borrow() {
            return Err(SubscribeError::Closing);
        }
        let user = audience.user();
        let audience = Arc::new(audience);
        let (sender, events) = mpsc::channel(QUEUE);
        let overflowed = Arc::new(AtomicBool::new(false));
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        let new_organization = {
            let mut organizations = self.lock();
            let open = organizations
                .values()
                .flat_map(|org| &org.subscribers)
                .filter(|s| s.audience.user() == user)
                .count();
            if open >= MAX_SOCKETS_PER_USER {
                return Err(SubscribeError::TooManySockets);
            }
            let org = organizations.entry(organization).or_default();
            org.subscribers.push(Subscriber {
                id,
                audience: Arc::clone(&audience),
                sender,
                overflowed: Arc::clone(&overflowed),
            });
            !org.tailed
        };
        if new_organization {
            self.0.tailer.notify_one();
        }
        crate::telemetry::metrics::realtime_connections(1.0);
        Ok(Subscription {
            hub: self.clone(),
            organization,
            id,
            audience,
            events,
            overflowed,
            closing: self.0.closing.subscribe(),
            lease: None,
        })
    }

    fn leave(&self, organization: OrganizationId, id: u64) {
        let mut organizations = self.lock();
        if let Some(org) = organizations.get_mut(&organization) {
            org.subscribers.retain(|s| s.id != id);
            if org.subscribers.is_empty() {
                organizations.remove(&organization);
            }
        }
        crate::telemetry::metrics::realtime_connections(-1.0);
    }

    /// The organizations with at least one socket here.
    #[must_use]
    pub fn organizations(&self) -> Vec<OrganizationId> {
        self.lock().keys().copied().collect()
    }

    /// The sockets open here.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.lock().values().map(|org| org.subscribers.len()).sum()
    }

    /// The sockets `user` holds open here.
    #[must_use]
    pub fn connections_of(&self, user: UserId) -> usize {
        self.lock()
            .values()
            .flat_map(|org| &org.subscribers)
            .filter(|s| s.audience.user() == user)
            .count()
    }

    /// The tailer now delivers `organization`'s events from its current head on.
    pub fn mark_tailed(&self, organization: OrganizationId) {
        if let Some(org) = self.lock().get_mut(&organization) {
            org.tailed = true;
        }
    }

    /// Waits (up to `limit`) until the tailer delivers `organization`'s events, so that a
    /// socket's replay and its live events leave no gap between them.
    pub async fn wait_tailed(&self, organization: OrganizationId, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.lock().get(&organization).is_some_and(|org| org.tailed) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resolves when an organization got its first socket (or after `limit`).
    pub async fn new_organization(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.0.tailer.notified()).await;
    }

    /// Delivers `signals` (in sequence order) to `organization`'s sockets here.
    pub fn publish(&self, organization: OrganizationId, signals: &[Signal]) {
        let mut organizations = self.lock();
        let Some(org) = organizations.get_mut(&organization) else {
            return;
        };
        for signal in signals {
            match signal {
                Signal::CareTeam {
                    user,
                    patient,
                    member,
                } => {
                    for s in org
                        .subscribers
                        .iter()
                        .filter(|s| s.audience.user() == *user)
                    {
                        s.audience.care_team_changed(*patient, *member);
                    }
                }
                Signal::Event(event) => {
                    let event = Arc::new(event.clone());
                    org.subscribers.retain(|s| {
                        if !s.audience.sees(&event) {
                            return true;
                        }
                        match s.sender.try_send(Arc::clone(&event)) {
                            Ok(()) => true,
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                s.overflowed.store(true, Ordering::Release);
                                crate::telemetry::metrics::realtime_dropped();
                                false
                            }
                            // The socket is going away; `leave` removes it.
                            Err(mpsc::error::TrySendError::Closed(_)) => true,
                        }
                    });
                }
            }
        }
    }

    /// Shutdown: every socket closes with 1001 and no new one joins.
    pub fn close_all(&self) {
        self.0.closing.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::Utc;

    use super::*;
    use crate::domain::Role;
    use crate::realtime::events::Topic;

    fn event(seq: i64) -> Signal {
        Signal::Event(Event {
            seq,
            name: "appointment.booked",
            topic: Topic::Appointments,
            entity_type: Some("appointment".into()),
            entity_id: None,
            patient_id: None,
            owner_id: None,
            restricted: false,
            occurred_at: Utc::now(),
        })
    }

    fn admin() -> Audience {
        Audience::new(UserId::new(), Role::Admin, HashSet::new())
    }

    #[test]
    fn a_socket_256_events_behind_is_dropped_and_the_others_keep_theirs() {
        let hub = Hub::new();
        let org = OrganizationId::new();
        let slow = hub.subscribe(org, admin()).expect("joins");
        let mut fast = hub.subscribe(org, admin()).expect("joins");
        for seq in 1..=i64::try_from(QUEUE).expect("small") {
            hub.publish(org, &[event(seq)]);
            assert!(fast.events.try_recv().is_ok());
        }
        assert!(!slow.overflowed());

        hub.publish(org, &[event(1000)]);

        assert!(slow.overflowed());
        assert_eq!(fast.events.try_recv().map(|e| e.seq).ok(), Some(1000));
        assert_eq!(hub.connections(), 1, "the slow one no longer receives");
        drop(slow);
        assert_eq!(hub.connections(), 1);
    }

    #[test]
    fn a_user_holds_at_most_five_sockets() {
        let hub = Hub::new();
        let org = OrganizationId::new();
        let user = UserId::new();
        let held: Vec<_> = (0..MAX_SOCKETS_PER_USER)
            .map(|_| {
                hub.subscribe(org, Audience::new(user, Role::Admin, HashSet::new()))
                    .expect("joins")
            })
            .collect();
        let sixth = hub.subscribe(org, Audience::new(user, Role::Admin, HashSet::new()));
        assert_eq!(sixth.err(), Some(SubscribeError::TooManySockets));
        drop(held);
        assert!(
            hub.subscribe(org, Audience::new(user, Role::Admin, HashSet::new()))
                .is_ok()
        );
    }
}
