//! Who may see and do what with a patient (SPEC §3).
//!
//! | role | patients | fields | writes |
//! |---|---|---|---|
//! | ADMIN | all of the organization's | all | create, update, delete, care teams |
//! | CLINICIAN | those on their care team | all | update |
//! | BILLING | all of the organization's | name, date of birth, MRN | none |
//! | SCHEDULER | all of the organization's | name, date of birth, MRN, phone, email | none |
//! | COMPLIANCE | none | — | — |
//! | SUPER_ADMIN | as ADMIN, inside a practice it acts in (`X-Haven-Organization`, audited `SUPER_ADMIN_BYPASS`); none in the platform itself | ids only | as ADMIN |
//!
//! Access to one patient comes from one of a list of sources, checked in order: an emergency
//! (break-the-glass) grant, the role, then the care team. An active grant (not revoked, not past
//! `expires_at` at the transaction's `now()`, checked on every request) gives its holder what a
//! care-team clinician gets, with access method `break_the_glass` and the grant id. It comes
//! first so that it widens a role that sees less (billing) and so that everything its holder
//! does to that patient while it is open counts as emergency use (audited `BTG_USE_ACCESS`),
//! even when the role alone would have allowed it (an admin's self-grant). A grant does not add
//! its patient to the holder's patient *list*: [`list`] stays role and care team; the holder
//! opens the patient by id.

pub use super::capability::{
    ManagePatients, OfPatient, PatientAccess, PatientList, PatientUse, PatientWrite, Scope, View,
    Visible,
};
use super::{Denial, PolicyError, method_of};
use crate::audit::AccessMethod;
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::domain::Role;
use crate::ids::PatientId;
use crate::store::btg;
use crate::store::patients;

/// The view of a role that sees every patient of the practice.
fn role_view(caller: &Caller) -> View {
    if caller.is_operator_in_practice() {
        View::Masked
    } else {
        View::Full
    }
}

/// Whether the caller may touch patients at all: COMPLIANCE may not (a 403, not a 404), and
/// neither may a platform operator outside a practice (the platform holds no PHI).
pub fn use_patients(caller: &Caller, operation: &'static str) -> Result<PatientUse, Denial> {
    if matches!(caller.role, Role::Compliance) || caller.organization_id.is_platform() {
        return Err(Denial::forbidden(caller, operation));
    }
    Ok(PatientUse::new())
}

/// As [`use_patients`], refusing `operation` on patient `patient`.
pub fn use_patient(
    caller: &Caller,
    operation: &'static str,
    patient: PatientId,
) -> Result<PatientUse, Denial> {
    use_patients(caller, operation)
        .map_err(|_| Denial::forbidden_on(caller, operation, "patient", patient, Some(patient)))
}

/// Whether the caller may manage patients, refusing `operation` (on `patient`, if named).
pub fn manage(
    caller: &Caller,
    operation: &'static str,
    patient: Option<PatientId>,
) -> Result<ManagePatients, Denial> {
    let refuse = || match patient {
        Some(p) => Denial::forbidden_on(caller, operation, "patient", p, Some(p)),
        None => Denial::forbidden(caller, operation),
    };
    use_patients(caller, operation).map_err(|_| refuse())?;
    if !matches!(caller.role, Role::Admin | Role::SuperAdmin) {
        return Err(refuse());
    }
    Ok(ManagePatients::new(method_of(caller)))
}

/// The patients (and their authorizations and sessions) a list may show the caller.
pub fn list(caller: &Caller, operation: &'static str) -> Result<PatientList, Denial> {
    use_patients(caller, operation)?;
    let (scope, view) = match caller.role {
        Role::Admin | Role::SuperAdmin => (Scope::All, role_view(caller)),
        Role::Billing => (Scope::All, View::Demographics),
        Role::Scheduler => (Scope::All, View::FrontDesk),
        Role::Clinician => (Scope::CareTeamOf(caller.user_id), View::Full),
        Role::Compliance => return Err(Denial::forbidden(caller, operation)),
    };
    Ok(PatientList::new(scope, view, method_of(caller)))
}

/// The caller's access to `row` (found in the transaction's organization), or the hidden 404.
/// An access through an emergency grant (`access().grant_id`) must be audited
/// `BTG_USE_ACCESS` by the caller of this function, in `tx` (the HTTP layer's look-ups do).
pub async fn visible<T: OfPatient>(
    tx: &mut TenantTx,
    caller: &Caller,
    _use: &PatientUse,
    row: T,
) -> Result<Visible<T>, PolicyError> {
    match access(tx, caller, row.patient_id()).await? {
        Some(access) => Ok(Visible::new(row, access)),
        None => {
            Err(Denial::hidden(caller, T::ENTITY, row.entity_id(), Some(row.patient_id())).into())
        }
    }
}

/// The caller's access to patient `patient` (assumed to exist in the transaction's
/// organization), or `None` when they may not see it.
pub(super) async fn access(
    tx: &mut TenantTx,
    caller: &Caller,
    patient: PatientId,
) -> Result<Option<PatientAccess>, sqlx::Error> {
    // A platform operator already sees everything in a practice it acts in; it holds no grants.
    if matches!(caller.role, Role::Admin | Role::Clinician | Role::Billing)
        && let Some(grant) = btg::active_for(tx, caller.user_id, patient).await?
    {
        return Ok(Some(PatientAccess::through_grant(grant)));
    }
    Ok(match caller.role {
        Role::Admin | Role::SuperAdmin => Some(PatientAccess::new(
            role_view(caller),
            true,
            method_of(caller),
        )),
        Role::Billing => Some(PatientAccess::new(
            View::Demographics,
            false,
            AccessMethod::Normal,
        )),
        Role::Scheduler => Some(PatientAccess::new(
            View::FrontDesk,
            false,
            AccessMethod::Normal,
        )),
        Role::Clinician if patients::on_care_team(tx, patient, caller.user_id).await? => {
            Some(PatientAccess::new(View::Full, true, AccessMethod::Normal))
        }
        Role::Clinician | Role::Compliance => None,
    })
}

/// Whether a user of `role` may join a patient's care team: clinicians only.
#[must_use]
pub fn may_join_care_team(role: Role) -> bool {
    role == Role::Clinician
}
