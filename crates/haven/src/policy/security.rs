//! Who may see and work security incidents and configure detection (SPEC §8): a practice's
//! incidents are its COMPLIANCE and ADMIN users'; the platform chain's incidents (failures
//! against unknown emails, password spraying across practices) are the platform operators'. CLINICIAN, BILLING and SCHEDULER never.
//!
//! | operation | practice | platform organization |
//! |---|---|---|
//! | read incidents, rules | ADMIN, COMPLIANCE | SUPER_ADMIN |
//! | transition, risk assessment | COMPLIANCE | SUPER_ADMIN |
//! | containment | ADMIN | SUPER_ADMIN |
//! | configure rules | ADMIN, COMPLIANCE | SUPER_ADMIN |
//!
//! A platform operator acting inside a practice is refused: a practice's incidents are its own
//! officers' to work.

use super::Denial;
use crate::auth::caller::Caller;
use crate::domain::Role;

/// Proof that the caller may read their organization's incidents and rules.
#[derive(Debug, Clone, Copy)]
pub struct ReadIncidents {
    _proof: (),
}

/// Proof that the caller may move incidents through the workflow and assess their risk.
#[derive(Debug, Clone, Copy)]
pub struct WorkIncidents {
    _proof: (),
}

/// Proof that the caller may contain an incident (revoke sessions, disable the user).
#[derive(Debug, Clone, Copy)]
pub struct ContainIncidents {
    _proof: (),
}

/// Proof that the caller may configure their organization's detection rules.
#[derive(Debug, Clone, Copy)]
pub struct ConfigureDetection {
    _proof: (),
}

fn allowed(caller: &Caller, practice: &[Role], operation: &'static str) -> Result<(), Denial> {
    if caller.organization_id.is_platform() {
        super::require(caller, &[Role::SuperAdmin], operation)
    } else {
        super::require(caller, practice, operation)
    }
}

/// Whether the caller may list and read incidents and rules (`operation`).
pub fn read(caller: &Caller, operation: &'static str) -> Result<ReadIncidents, Denial> {
    allowed(caller, &[Role::Admin, Role::Compliance], operation)?;
    Ok(ReadIncidents { _proof: () })
}

/// Whether the caller may transition incidents and record risk assessments (`operation`).
pub fn work(
    caller: &Caller,
    operation: &'static str,
) -> Result<(ReadIncidents, WorkIncidents), Denial> {
    allowed(caller, &[Role::Compliance], operation)?;
    Ok((ReadIncidents { _proof: () }, WorkIncidents { _proof: () }))
}

/// Whether the caller may take containment actions (`operation`).
pub fn contain(
    caller: &Caller,
    operation: &'static str,
) -> Result<(ReadIncidents, ContainIncidents), Denial> {
    allowed(caller, &[Role::Admin], operation)?;
    Ok((
        ReadIncidents { _proof: () },
        ContainIncidents { _proof: () },
    ))
}

/// Whether the caller may change detection rules (`operation`).
pub fn configure(caller: &Caller, operation: &'static str) -> Result<ConfigureDetection, Denial> {
    allowed(caller, &[Role::Admin, Role::Compliance], operation)?;
    Ok(ConfigureDetection { _proof: () })
}
