//! The detection rules: each kind's named thresholds with the SPEC §8 defaults, its default
//! severity and automatic action, and the checks a practice's configuration must pass.
//!
//! | kind | thresholds (default) |
//! |---|---|
//! | `EXCESSIVE_PHI_ACCESS` | `patientsPerMinute` 20, `patientsPerHour` 50, `patientsPerDay` 200 (distinct patients; more than) |
//! | `FAILED_LOGIN_BURST` | `windowMinutes` 15, `failuresPerIp` 10, `failuresPerIpCritical` 20, `accountsPerIp` 5, `failuresBeforeSuccess` 5, `practicesPerIp` 2 (at least) |
//! | `AFTER_HOURS_ACCESS` | `readsPerHour` 10 (more than) |
//! | `PRIVILEGE_ESCALATION` | `deniedPerHour` 5, `deniedPerHourHigh` 10 (at least) |
//! | `BULK_EXPORT` | `exportsPerHour` 20, `patientsPerExport` 500 (more than) |
//!
//! `practicesPerIp` is read from the platform organization's rule only: one address failing on
//! `accountsPerIp` accounts spread over `practicesPerIp` practices within `windowMinutes` (each
//! practice below its own thresholds) is a platform incident, the SUPER_ADMIN's.
//!
//! A rule's `severity` is the severity of its main trigger; the SPEC's tiers above or below it
//! stay as they are (24 h of reads and ≥ 20 failures are CRITICAL, 5–9 denials MEDIUM, one
//! large export HIGH).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{RuleKind, Severity};

/// The largest threshold accepted: anything above is a typo, not a policy.
pub const MAX_THRESHOLD: i64 = 100_000;

/// What a rule does by itself when it opens a CRITICAL incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AutoAction {
    /// Revoke the subject user's sessions (never locks the account).
    RevokeSessions,
}

impl AutoAction {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RevokeSessions => "REVOKE_SESSIONS",
        }
    }

    /// The action named `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        (name == "REVOKE_SESSIONS").then_some(Self::RevokeSessions)
    }
}

/// The named thresholds of `kind`, with their defaults.
#[must_use]
pub const fn default_thresholds(kind: RuleKind) -> &'static [(&'static str, i64)] {
    match kind {
        RuleKind::ExcessivePhiAccess => &[
            ("patientsPerMinute", 20),
            ("patientsPerHour", 50),
            ("patientsPerDay", 200),
        ],
        RuleKind::FailedLoginBurst => &[
            ("windowMinutes", 15),
            ("failuresPerIp", 10),
            ("failuresPerIpCritical", 20),
            ("accountsPerIp", 5),
            ("failuresBeforeSuccess", 5),
            ("practicesPerIp", 2),
        ],
        RuleKind::AfterHoursAccess => &[("readsPerHour", 10)],
        RuleKind::PrivilegeEscalation => &[("deniedPerHour", 5), ("deniedPerHourHigh", 10)],
        RuleKind::BulkExport => &[("exportsPerHour", 20), ("patientsPerExport", 500)],
    }
}

/// The severity of `kind`'s main trigger by default.
#[must_use]
pub const fn default_severity(kind: RuleKind) -> Severity {
    match kind {
        RuleKind::AfterHoursAccess => Severity::Medium,
        RuleKind::BulkExport => Severity::Critical,
        RuleKind::ExcessivePhiAccess
        | RuleKind::FailedLoginBurst
        | RuleKind::PrivilegeEscalation => Severity::High,
    }
}

/// `kind`'s automatic action by default (SPEC: only CRITICAL `BULK_EXPORT`).
#[must_use]
pub const fn default_auto_action(kind: RuleKind) -> Option<AutoAction> {
    match kind {
        RuleKind::BulkExport => Some(AutoAction::RevokeSessions),
        _ => None,
    }
}

/// One rule as a practice runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleConfig {
    /// The kind.
    pub kind: RuleKind,
    /// Whether the detector evaluates it.
    pub enabled: bool,
    /// Every named threshold of the kind.
    pub thresholds: BTreeMap<String, i64>,
    /// The severity of its main trigger.
    pub severity: Severity,
    /// What it does by itself on a CRITICAL incident.
    pub auto_action: Option<AutoAction>,
}

impl RuleConfig {
    /// The SPEC's configuration of `kind`.
    #[must_use]
    pub fn default_for(kind: RuleKind) -> Self {
        Self {
            kind,
            enabled: true,
            thresholds: default_thresholds(kind)
                .iter()
                .map(|(name, value)| ((*name).to_owned(), *value))
                .collect(),
            severity: default_severity(kind),
            auto_action: default_auto_action(kind),
        }
    }

    /// The threshold `name` (every name of the kind is present).
    #[must_use]
    pub fn threshold(&self, name: &str) -> i64 {
        self.thresholds.get(name).copied().unwrap_or_else(|| {
            default_thresholds(self.kind)
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(MAX_THRESHOLD, |(_, v)| *v)
        })
    }
}

/// Why a configuration was refused: the field and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidThreshold {
    /// `thresholds.<name>`.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// Checks `given` against `kind`'s names and bounds and fills the names it leaves out with the
/// defaults.
pub fn complete_thresholds(
    kind: RuleKind,
    given: &BTreeMap<String, i64>,
) -> Result<BTreeMap<String, i64>, InvalidThreshold> {
    let names = default_thresholds(kind);
    for (name, value) in given {
        if !names.iter().any(|(n, _)| n == name) {
            return Err(InvalidThreshold {
                field: format!("thresholds.{name}"),
                reason: format!("is not a threshold of {}", kind.as_str()),
            });
        }
        if !(1..=MAX_THRESHOLD).contains(value) {
            return Err(InvalidThreshold {
                field: format!("thresholds.{name}"),
                reason: format!("must be between 1 and {MAX_THRESHOLD}"),
            });
        }
    }
    let mut complete = RuleConfig::default_for(kind).thresholds;
    complete.extend(given.iter().map(|(k, v)| (k.clone(), *v)));
    Ok(complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_spec_s() {
        let phi = RuleConfig::default_for(RuleKind::ExcessivePhiAccess);
        assert_eq!(phi.threshold("patientsPerHour"), 50);
        assert_eq!(phi.severity, Severity::High);
        assert_eq!(
            RuleConfig::default_for(RuleKind::BulkExport).auto_action,
            Some(AutoAction::RevokeSessions)
        );
        assert_eq!(
            RuleConfig::default_for(RuleKind::FailedLoginBurst).auto_action,
            None
        );
    }

    #[test]
    fn unknown_names_and_out_of_range_values_are_refused() {
        let mut given = BTreeMap::new();
        given.insert("patientsPerYear".to_owned(), 3);
        assert_eq!(
            complete_thresholds(RuleKind::ExcessivePhiAccess, &given)
                .expect_err("unknown")
                .field,
            "thresholds.patientsPerYear"
        );
        for bad in [0, -1, MAX_THRESHOLD + 1] {
            let given = BTreeMap::from([("readsPerHour".to_owned(), bad)]);
            assert!(complete_thresholds(RuleKind::AfterHoursAccess, &given).is_err());
        }
        let given = BTreeMap::from([("readsPerHour".to_owned(), 3)]);
        let complete = complete_thresholds(RuleKind::AfterHoursAccess, &given).expect("valid");
        assert_eq!(complete.get("readsPerHour"), Some(&3));
        let partial = BTreeMap::from([("patientsPerMinute".to_owned(), 5)]);
        let complete = complete_thresholds(RuleKind::ExcessivePhiAccess, &partial).expect("valid");
        assert_eq!(complete.len(), 3);
        assert_eq!(complete.get("patientsPerDay"), Some(&200));
    }
}
