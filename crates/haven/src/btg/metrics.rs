//! `haven_btg_events_total{action}`: break-the-glass events counted in this process.
//!
//! Every grant, use, revoke, expiry and review passes through [`record_n`], which feeds the
//! Prometheus counter (`crate::telemetry::metrics`, one series per action, each starting at 0 so
//! a dashboard sees it before the first emergency) and keeps a plain count that tests and the
//! security signal read without parsing the exposition format.

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
        crate::telemetry::metrics::btg_events(action, n);
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
