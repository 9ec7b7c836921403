//! The MFA gate's memory: which admins were just let through.
//!
//! An organization may require MFA of its administrators; an ADMIN without it may then reach
//! only the auth routes (to enrol). Asking PostgreSQL on every admin request cost a transaction
//! of its own per request (BEGIN and `set_config`, the SELECT, COMMIT: a quarter of the
//! statements of a patient read). So a *pass* is remembered for [`PASS_TTL`] per user: within a
//! second of the requirement being switched on, or of an admin's MFA being removed, every
//! instance refuses them — the bound the revocation set keeps for a revoked session. A
//! *refusal* is never remembered, so an admin who has just enrolled is let in at once, and an
//! admin who disables MFA on this instance is forgotten here at once ([`MfaGate::forget`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::ids::{OrganizationId, UserId};

/// How long a pass of the gate is reused.
pub const PASS_TTL: Duration = Duration::from_secs(1);

/// At most this many passes are remembered (then the memory starts over).
const MAX_ENTRIES: usize = 16_384;

/// Passes of the MFA gate, by organization and user, with when they were read.
#[derive(Default)]
pub struct MfaGate {
    passes: Mutex<HashMap<(OrganizationId, UserId), Instant>>,
}

impl fmt::Debug for MfaGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaGate").finish_non_exhaustive()
    }
}

impl MfaGate {
    /// Whether `user` of `organization` passed the gate less than [`PASS_TTL`] before `now`.
    #[must_use]
    pub fn passed_recently(
        &self,
        organization: OrganizationId,
        user: UserId,
        now: Instant,
    ) -> bool {
        self.lock()
            .get(&(organization, user))
            .is_some_and(|read| now.saturating_duration_since(*read) < PASS_TTL)
    }

    /// Remembers that `user` passed the gate by a read of the database made at `read`.
    pub fn record_pass(&self, organization: OrganizationId, user: UserId, read: Instant) {
        let mut passes = self.lock();
        if passes.len() >= MAX_ENTRIES {
            passes.retain(|_, at| read.saturating_duration_since(*at) < PASS_TTL);
            if passes.len() >= MAX_ENTRIES {
                passes.clear();
            }
        }
        passes.insert((organization, user), read);
    }

    /// Forgets `user`'s pass (their MFA was just removed on this instance).
    pub fn forget(&self, organization: OrganizationId, user: UserId) {
        self.lock().remove(&(organization, user));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(OrganizationId, UserId), Instant>> {
        // Entries are written whole: a map left by a panicking thread is still valid.
        self.passes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_lasts_less_than_its_ttl_and_only_for_its_user() {
        let gate = MfaGate::default();
        let (org, user, other) = (OrganizationId::new(), UserId::new(), UserId::new());
        let t0 = Instant::now();
        assert!(!gate.passed_recently(org, user, t0));
        gate.record_pass(org, user, t0);
        assert!(gate.passed_recently(org, user, t0));
        assert!(gate.passed_recently(org, user, t0 + PASS_TTL - Duration::from_millis(1)));
        assert!(!gate.passed_recently(org, user, t0 + PASS_TTL));
        assert!(!gate.passed_recently(org, other, t0));
        assert!(!gate.passed_recently(OrganizationId::new(), user, t0));
    }

    #[test]
    fn a_forgotten_pass_is_asked_again() {
        let gate = MfaGate::default();
        let (org, user) = (OrganizationId::new(), UserId::new());
        let t0 = Instant::now();
        gate.record_pass(org, user, t0);
        gate.forget(org, user);
        assert!(!gate.passed_recently(org, user, t0));
    }

    #[test]
    fn the_memory_is_bounded_and_sheds_expired_passes_first() {
        let gate = MfaGate::default();
        let org = OrganizationId::new();
        let t0 = Instant::now();
        for _ in 0..MAX_ENTRIES {
            gate.record_pass(org, UserId::new(), t0);
        }
        assert_eq!(gate.lock().len(), MAX_ENTRIES);
        // Full: the expired passes make room.
        let later = t0 + PASS_TTL;
        let user = UserId::new();
        gate.record_pass(org, user, later);
        assert!(gate.passed_recently(org, user, later));
        assert_eq!(gate.lock().len(), 1);
        // Full of live passes: it starts over rather than grow.
        for _ in 0..MAX_ENTRIES + 10 {
            gate.record_pass(org, UserId::new(), later);
        }
        assert!(gate.lock().len() <= MAX_ENTRIES);
    }
}
