//! The roles of SPEC §3.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a user may do; see SPEC §3 for the full table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Platform operator: organizations and their first admin; no PHI.
    SuperAdmin,
    /// Runs one practice: users, care teams, patients, units, grants, audit log.
    Admin,
    /// Treats the patients on their care team.
    Clinician,
    /// Authorizations and sessions; a patient's name, date of birth and MRN only.
    Billing,
    /// Audit log, emergency-access review, security alerts; no PHI.
    Compliance,
    /// Front desk: availability, appointments and series of every patient; a patient's name,
    /// date of birth, MRN, phone and email only.
    Scheduler,
}

impl Role {
    /// Every role, in SPEC order.
    pub const ALL: [Role; 6] = [
        Role::SuperAdmin,
        Role::Admin,
        Role::Clinician,
        Role::Billing,
        Role::Compliance,
        Role::Scheduler,
    ];

    /// The name stored in the database and used on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "SUPER_ADMIN",
            Role::Admin => "ADMIN",
            Role::Clinician => "CLINICIAN",
            Role::Billing => "BILLING",
            Role::Compliance => "COMPLIANCE",
            Role::Scheduler => "SCHEDULER",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of SPEC §3's.
#[derive(Debug, thiserror::Error)]
#[error("unknown role")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or(UnknownRole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_its_name() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
            let json = serde_json::to_string(&role).expect("serializes");
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
        assert!("admin".parse::<Role>().is_err());
    }
}
