//! Breach detection (SPEC §8, HIPAA §164.308(a)(1)(ii)(D), §164.402–§164.410).
//!
//! * **Rules** ([`rules`]): five kinds, each with the SPEC's default thresholds, severity and
//!   automatic action, overridable per practice (`detection_rules`).
//! * **The detector** ([`detector`]): a background job that reads each organization's sealed
//!   audit chain after its cursor and evaluates every enabled rule as set-based SQL over the
//!   subjects present in the new rows only; findings open (or bump) incidents, de-duplicated by
//!   a partial unique index, and the cursor advances in the same transaction.
//! * **Incidents** (the `security_incidents` table): the HIPAA workflow ([`IncidentStatus`]), the
//!   four-factor risk assessment and an append-only history.

pub mod detector;
pub mod rules;

use serde::{Deserialize, Serialize};

/// The kinds of detection rule.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleKind {
    /// Many distinct patients read by one user.
    ExcessivePhiAccess,
    /// Failed logins from one address, or failures then a success on one account.
    FailedLoginBurst,
    /// PHI reads outside the practice's business hours.
    AfterHoursAccess,
    /// Escalation attempts, token reuse, DPoP replay, repeated denials.
    PrivilegeEscalation,
    /// Many exports, or one very large export.
    BulkExport,
}

impl RuleKind {
    /// Every kind, in SPEC order.
    pub const ALL: [RuleKind; 5] = [
        RuleKind::ExcessivePhiAccess,
        RuleKind::FailedLoginBurst,
        RuleKind::AfterHoursAccess,
        RuleKind::PrivilegeEscalation,
        RuleKind::BulkExport,
    ];

    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ExcessivePhiAccess => "EXCESSIVE_PHI_ACCESS",
            Self::FailedLoginBurst => "FAILED_LOGIN_BURST",
            Self::AfterHoursAccess => "AFTER_HOURS_ACCESS",
            Self::PrivilegeEscalation => "PRIVILEGE_ESCALATION",
            Self::BulkExport => "BULK_EXPORT",
        }
    }

    /// The kind named `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// How serious an incident is.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        }
    }

    /// The severity named `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// An incident's place in the HIPAA workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentStatus {
    /// Just detected.
    Open,
    /// Someone is looking at it.
    Investigating,
    /// The activity was stopped.
    Contained,
    /// Not a security incident after all.
    ClosedFalsePositive,
    /// A security incident, but no breach of unsecured PHI (§164.402(2)).
    ClosedNotABreach,
    /// A breach: notification is due by the deadline.
    ConfirmedBreach,
    /// Individuals (and, at ≥ 500, media and HHS) were notified.
    Notified,
    /// Done.
    Closed,
}

impl IncidentStatus {
    /// Every status, in workflow order.
    pub const ALL: [IncidentStatus; 8] = [
        Self::Open,
        Self::Investigating,
        Self::Contained,
        Self::ClosedFalsePositive,
        Self::ClosedNotABreach,
        Self::ConfirmedBreach,
        Self::Notified,
        Self::Closed,
    ];

    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Investigating => "INVESTIGATING",
            Self::Contained => "CONTAINED",
            Self::ClosedFalsePositive => "CLOSED_FALSE_POSITIVE",
            Self::ClosedNotABreach => "CLOSED_NOT_A_BREACH",
            Self::ConfirmedBreach => "CONFIRMED_BREACH",
            Self::Notified => "NOTIFIED",
            Self::Closed => "CLOSED",
        }
    }

    /// The status named `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The statuses that may follow this one: `OPEN → INVESTIGATING → CONTAINED →
    /// CLOSED_FALSE_POSITIVE | CLOSED_NOT_A_BREACH | CONFIRMED_BREACH → NOTIFIED → CLOSED`.
    #[must_use]
    pub const fn next(self) -> &'static [IncidentStatus] {
        match self {
            Self::Open => &[Self::Investigating],
            Self::Investigating => &[Self::Contained],
            Self::Contained => &[
                Self::ClosedFalsePositive,
                Self::ClosedNotABreach,
                Self::ConfirmedBreach,
            ],
            Self::ConfirmedBreach => &[Self::Notified],
            Self::Notified => &[Self::Closed],
            Self::ClosedFalsePositive | Self::ClosedNotABreach | Self::Closed => &[],
        }
    }

    /// Whether `to` may follow this status.
    #[must_use]
    pub fn may_become(self, to: IncidentStatus) -> bool {
        self.next().contains(&to)
    }

    /// Whether the incident is still open for de-duplication (the partial unique index's
    /// statuses): new findings for its rule and subject update it.
    #[must_use]
    pub const fn is_active(self) -> bool {
        matches!(self, Self::Open | Self::Investigating | Self::Contained)
    }
}

/// Days from discovery to the notification deadline (§164.404(b)).
pub const NOTIFICATION_DAYS: i64 = 60;
/// Affected patients from which media and HHS are notified at once (§164.406, §164.408).
pub const MEDIA_NOTICE_PATIENTS: i32 = 500;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_moves_forward_only() {
        use IncidentStatus::*;
        assert!(Open.may_become(Investigating));
        assert!(!Open.may_become(Contained));
        assert!(!Open.may_become(Closed));
        assert!(Contained.may_become(ConfirmedBreach));
        assert!(ConfirmedBreach.may_become(Notified));
        assert!(!ConfirmedBreach.may_become(Closed));
        assert!(Notified.may_become(Closed));
        assert!(Closed.next().is_empty());
        assert!(ClosedFalsePositive.next().is_empty());
        assert!(!Investigating.may_become(Open));
    }

    #[test]
    fn names_round_trip() {
        for kind in RuleKind::ALL {
            assert_eq!(RuleKind::parse(kind.as_str()), Some(kind));
        }
        for status in IncidentStatus::ALL {
            assert_eq!(IncidentStatus::parse(status.as_str()), Some(status));
        }
        assert!(Severity::Critical > Severity::High);
        assert_eq!(RuleKind::parse("NOPE"), None);
    }
}

/// A practice's business hours (AFTER_HOURS_ACCESS): local `start` to `end` (`HH:MM`, end
/// may be `24:00`) on ISO days of week `days` (1 = Monday), in the practice's time zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// Opening time, `HH:MM`.
    #[schema(example = "06:00")]
    pub start: String,
    /// Closing time, `HH:MM` (`24:00`: midnight at the end of the day).
    #[schema(example = "22:00")]
    pub end: String,
    /// ISO days of week open (1 = Monday … 7 = Sunday); empty: always after hours.
    #[schema(example = json!([1, 2, 3, 4, 5]))]
    pub days: Vec<i16>,
}

impl BusinessHours {
    /// Checks the times (`HH:MM`, start before end) and the days (1–7, no repeats); answers
    /// the field at fault and why.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        let start = minutes(&self.start).ok_or(("businessHours.start", "must be HH:MM"))?;
        let end =
            minutes(&self.end).ok_or(("businessHours.end", "must be HH:MM (24:00 allowed)"))?;
        if start >= 24 * 60 {
            return Err(("businessHours.start", "must be before 24:00"));
        }
        if end <= start {
            return Err(("businessHours.end", "must be after start"));
        }
        let mut seen = [false; 8];
        for day in &self.days {
            let Some(slot) = usize::try_from(*day).ok().filter(|d| (1..=7).contains(d)) else {
                return Err(("businessHours.days", "must be ISO days of week 1 to 7"));
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(("businessHours.days", "must not repeat a day"));
            }
        }
        Ok(())
    }
}

/// `HH:MM` → minutes since midnight (`24:00` → 1440).
fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

#[cfg(test)]
mod business_hours_tests {
    use super::*;

    fn hours(start: &str, end: &str, days: &[i16]) -> BusinessHours {
        BusinessHours {
            start: start.into(),
            end: end.into(),
            days: days.to_vec(),
        }
    }

    #[test]
    fn valid_and_invalid_hours() {
        assert!(hours("06:00", "22:00", &[1, 2, 3, 4, 5]).check().is_ok());
        assert!(
            hours("00:00", "24:00", &[1, 2, 3, 4, 5, 6, 7])
                .check()
                .is_ok()
        );
        assert!(hours("00:00", "24:00", &[]).check().is_ok());
        assert_eq!(
            hours("22:00", "06:00", &[1])
                .check()
                .expect_err("refused")
                .0,
            "businessHours.end"
        );
        assert_eq!(
            hours("6:00", "22:00", &[1]).check().expect_err("refused").0,
            "businessHours.start"
        );
        assert_eq!(
            hours("24:00", "24:00", &[1])
                .check()
                .expect_err("refused")
                .0,
            "businessHours.start"
        );
        assert_eq!(
            hours("06:00", "24:01", &[1])
                .check()
                .expect_err("refused")
                .0,
            "businessHours.end"
        );
        assert_eq!(
            hours("06:00", "22:00", &[0])
                .check()
                .expect_err("refused")
                .0,
            "businessHours.days"
        );
        assert_eq!(
            hours("06:00", "22:00", &[8])
                .check()
                .expect_err("refused")
                .0,
            "businessHours.days"
        );
        assert_eq!(
            hours("06:00", "22:00", &[1, 1])
                .check()
                .expect_err("refused")
                .0,
            "businessHours.days"
        );
    }
}
