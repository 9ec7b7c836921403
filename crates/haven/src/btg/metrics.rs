//! `haven_btg_events_total{action}`: break-the-glass events counted in this process.
//!
//! There is no metrics endpoint yet (SPEC §9); [`events_total`] is the value it will export as a
//! Prometheus counter, one series per action, starting at 0 for every action so a dashboard sees
//! the series before the first emergency.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::audit::AuditAction;

/// The actions counted, in export order.
pub const ACTIONS: [AuditAction; 5] = [
    AuditAction::BtgGrantAccess,
    AuditAction::BtgUseAccess,
    AuditAction::BtgRevokeAccess,
    AuditAction::BtgExpired,
    AuditAction::BtgReview,
];

static COUNTS: [AtomicU64; ACTIONS.len()] = [const { AtomicU64::new(0) }; ACTIONS.len()];

/// Counts one `action` (anything but a BTG action is ignored).
pub fn record(action: AuditAction) {
    record_n(action, 1);
}

/// Counts `n` events of `action`.
pub fn record_n(action: AuditAction, n: u64) {
    if let Some(i) = ACTIONS.iter().position(|a| *a == action) {
        COUNTS[i].fetch_add(n, Ordering::Relaxed);
    }
}

/// How many `action` events this process has counted.
#[must_use]
pub fn events(action: AuditAction) -> u64 {
    ACTIONS
        .iter()
        .position(|a| *a == action)
        .map_or(0, |i| COUNTS[i].load(Ordering::Relaxed))
}

/// Every counted action with its count: `haven_btg_events_total{action="<name>"} <count>`.
#[must_use]
pub fn events_total() -> Vec<(&'static str, u64)> {
    ACTIONS
        .iter()
        .zip(&COUNTS)
        .map(|(action, count)| (action.as_str(), count.load(Ordering::Relaxed)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_btg_actions_and_ignores_others() {
        let before = events(AuditAction::BtgRevokeAccess);
        let others = events_total();

        record(AuditAction::BtgRevokeAccess);
        record(AuditAction::PatientRead);

        assert!(events(AuditAction::BtgRevokeAccess) > before);
        assert_eq!(events(AuditAction::PatientRead), 0);
        assert_eq!(events_total().len(), others.len());
        assert!(
            events_total()
                .iter()
                .any(|(name, _)| *name == "BTG_EXPIRED")
        );
    }
}
