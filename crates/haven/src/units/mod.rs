//! Therapy units: how minutes become units ([`minutes`]), how units move between an
//! authorization and its sessions ([`ledger`]), and how reservations abandoned by crashed or
//! forgetful clients come back ([`cleanup`]).
//!
//! The rules every part keeps (SPEC §5):
//!
//! * an authorization's `used_units` only changes through a conditional UPDATE whose WHERE clause
//!   carries the bounds (`used_units + n <= total_units`, ACTIVE, date in range), so concurrent
//!   requests cannot over-allocate; the CHECK constraints are the last line;
//! * each change writes one append-only `unit_ledger` row with the signed delta in the same
//!   transaction, together with the session change and the audit row; a refused request changes
//!   nothing and writes no ledger row;
//! * hence at every commit, for every authorization,
//!   `used_units = Σ ledger = held (SCHEDULED, IN_PROGRESS) + consumed (COMPLETED) + adjustments`,
//!   which `haven_units.ledger_check()` verifies.
//!
//! Lock order is session, then authorization, everywhere (a reservation locks only the
//! authorization; its session is new), so the operations cannot deadlock one another.

pub mod cleanup;
pub mod ledger;
pub mod minutes;

fn is_service_code(code: &str) -> bool {
    let (base, modifier) = match code.split_once('-') {
        Some((base, modifier)) => (base, Some(modifier)),
        None => (code, None),
    };
    let alnum = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    (4..=10).contains(&base.len())
        && alnum(base)
        && modifier.is_none_or(|m| (1..=4).contains(&m.len()) && alnum(m))
}

/// A service code: CPT/HCPCS-like, 4–10 capital letters or digits, optionally a modifier of
/// 1–4 after a dash (`97153`, `H2019`, `H2019-HO`); the database checks the same pattern,
/// `^[A-Z0-9]{4,10}(-[A-Z0-9]{1,4})?$`. Lower case is accepted and upper-cased.
pub fn parse_service_code(text: &str) -> Result<String, String> {
    let code = text.trim().to_ascii_uppercase();
    if is_service_code(&code) {
        Ok(code)
    } else {
        Err("must be a CPT/HCPCS-like code: 4 to 10 letters or digits, optionally -MODIFIER".into())
    }
}

/// A session or authorization status as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(
    as = TherapySessionStatus,
    description = "A therapy session's status: SCHEDULED (units reserved) → IN_PROGRESS → \
        COMPLETED (actual units consumed), or CANCELLED from either open state (units released)"
)]
pub enum SessionStatus {
    /// Reserved, not started.
    Scheduled,
    /// Started.
    InProgress,
    /// Done; its actual units are consumed.
    Completed,
    /// Cancelled (by a user or the stale cleanup); holds nothing.
    Cancelled,
}

impl SessionStatus {
    /// Every status.
    pub const ALL: [Self; 4] = [
        Self::Scheduled,
        Self::InProgress,
        Self::Completed,
        Self::Cancelled,
    ];

    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Parses a stored or requested name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the session still holds its reserved units.
    #[must_use]
    pub const fn is_open(self) -> bool {
        matches!(self, Self::Scheduled | Self::InProgress)
    }
}

/// The statuses an authorization shows.
pub const AUTHORIZATION_STATUSES: [&str; 4] = ["ACTIVE", "EXHAUSTED", "EXPIRED", "CANCELLED"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_codes_look_like_cpt_or_hcpcs() {
        for good in ["97153", "h2019", "H2019-HO", "0362T", "G0151-GP"] {
            assert!(parse_service_code(good).is_ok(), "{good}");
        }
        assert_eq!(parse_service_code(" h2019-ho ").as_deref(), Ok("H2019-HO"));
        for bad in [
            "",
            "971",
            "97153-",
            "97153-ABCDE",
            "97 153",
            "97153;DROP",
            "ABCDEFGHIJK",
        ] {
            assert!(parse_service_code(bad).is_err(), "{bad}");
        }
    }
}
