//! Who may work with units: insurance authorizations, therapy sessions and the ledger (SPEC §3,
//! §5). Access to a patient's units is access to the patient (`super::patients`): ADMIN and
//! BILLING for every patient of the practice, a CLINICIAN for the patients on their care team,
//! COMPLIANCE, SCHEDULER (an authorization shows its member id) and a platform operator
//! outside a practice for none. Creating and adjusting authorizations is ADMIN's and
//! BILLING's. (A SCHEDULER's booking still reserves units: `super::appointments` allows it.)

use super::Denial;
pub use super::capability::ManageAuthorizations;
use super::capability::PatientUse;
use super::patients;
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::ids::{AuthorizationId, TherapySessionId};

/// Whether the caller may work with authorizations and sessions at all (`operation`).
pub fn use_units(caller: &Caller, operation: &'static str) -> Result<PatientUse, Denial> {
    if caller.role == Role::Scheduler {
        return Err(Denial::forbidden(caller, operation));
    }
    patients::use_patients(caller, operation)
}

/// As [`use_units`], refusing `operation` on authorization `id`.
pub fn use_authorization(
    caller: &Caller,
    operation: &'static str,
    id: AuthorizationId,
) -> Result<PatientUse, Denial> {
    use_units(caller, operation)
        .map_err(|_| Denial::forbidden_on(caller, operation, "authorization", id, None))
}

/// As [`use_units`], refusing `operation` on session `id`.
pub fn use_session(
    caller: &Caller,
    operation: &'static str,
    id: TherapySessionId,
) -> Result<PatientUse, Denial> {
    use_units(caller, operation)
        .map_err(|_| Denial::forbidden_on(caller, operation, "session", id, None))
}

/// Whether the caller may manage authorizations, refusing `operation` (on `authorization`, if
/// named).
pub fn manage_authorizations(
    caller: &Caller,
    operation: &'static str,
    authorization: Option<AuthorizationId>,
) -> Result<ManageAuthorizations, Denial> {
    let allowed = use_units(caller, operation).is_ok()
        && matches!(caller.role, Role::Admin | Role::SuperAdmin | Role::Billing);
    if allowed {
        return Ok(ManageAuthorizations::new());
    }
    Err(match authorization {
        Some(id) => Denial::forbidden_on(caller, operation, "authorization", id, None),
        None => Denial::forbidden(caller, operation),
    })
}

/// Whether the caller may release stale reservations by hand (ADMIN: their practice;
/// SUPER_ADMIN: every practice, or the one it acts in).
pub fn clean_stale(caller: &Caller) -> Result<(), Denial> {
    super::require(caller, &[Role::Admin, Role::SuperAdmin], "cleanup_stale")
}

/// Whether the caller sees authorizations' member ids: not a platform operator acting in a
/// practice, who sees no PHI (SPEC §3).
#[must_use]
pub fn sees_member_ids(caller: &Caller) -> bool {
    !caller.is_operator_in_practice()
}
