//! Who may see and do what with a patient: every patient-touching handler asks here, and
//! nowhere else (SPEC §3).
//!
//! | role | patients | fields | writes |
//! |---|---|---|---|
//! | ADMIN | all of the organization's | all | create, update, delete, care teams |
//! | CLINICIAN | those on their care team | all | update |
//! | BILLING | all of the organization's | name, date of birth, MRN | none |
//! | COMPLIANCE | none | — | — |
//! | SUPER_ADMIN | as ADMIN, inside a practice it acts in (`X-Haven-Organization`, audited `SUPER_ADMIN_BYPASS`); none in the platform itself | all | as ADMIN |
//!
//! Access to one patient comes from one of a list of sources, checked in order: an emergency
//! (break-the-glass) grant, the role, then the care team. An active grant (not revoked, not past
//! `expires_at` at the transaction's `now()`, checked on every request) gives its holder what a
//! care-team clinician gets, with access method `break_the_glass` and the grant id. It comes
//! first so that it widens a role that sees less (billing) and so that everything its holder
//! does to that patient while it is open counts as emergency use (audited `BTG_USE_ACCESS`),
//! even when the role alone would have allowed it (an admin's self-grant). A grant does not add
//! its patient to the holder's patient *list*: [`list_scope`] stays role and care team; the
//! holder opens the patient by id.

use uuid::Uuid;

use crate::audit::AccessMethod;
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::domain::Role;
use crate::store::btg;
use crate::store::patients::{self, Scope};

/// How much of a patient the caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Every field.
    Full,
    /// Name, date of birth and MRN only (billing).
    Demographics,
}

/// Permission to work with one patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatientAccess {
    /// What the caller sees.
    pub view: View,
    /// Whether they may change demographics.
    pub can_update: bool,
    /// How the access came about, for the audit trail.
    pub method: AccessMethod,
    /// The emergency grant the access comes through (method `BreakTheGlass`), if any.
    pub grant_id: Option<Uuid>,
}

impl PatientAccess {
    const fn new(view: View, can_update: bool, method: AccessMethod) -> Self {
        Self {
            view,
            can_update,
            method,
            grant_id: None,
        }
    }

    /// What a care-team clinician may do, through emergency grant `grant`.
    const fn through_grant(grant: Uuid) -> Self {
        Self {
            view: View::Full,
            can_update: true,
            method: AccessMethod::BreakTheGlass,
            grant_id: Some(grant),
        }
    }
}

/// Whether the caller may touch patients at all: COMPLIANCE may not (a 403, not a 404), and
/// neither may a platform operator outside a practice (the platform holds no PHI).
#[must_use]
pub fn may_use_patients(caller: &Caller) -> bool {
    !matches!(caller.role, Role::Compliance) && !caller.organization_id.is_platform()
}

/// Whether the caller may create and delete patients and manage care teams.
#[must_use]
pub fn may_manage_patients(caller: &Caller) -> bool {
    matches!(caller.role, Role::Admin | Role::SuperAdmin) && may_use_patients(caller)
}

/// The audit access method of a role's ordinary access.
#[must_use]
pub fn method_of(caller: &Caller) -> AccessMethod {
    if caller.role == Role::SuperAdmin {
        AccessMethod::SuperAdminBypass
    } else {
        AccessMethod::Normal
    }
}

/// The patients a list may show the caller, or `None` when the role sees none.
#[must_use]
pub fn list_scope(caller: &Caller) -> Option<(Scope, View)> {
    if !may_use_patients(caller) {
        return None;
    }
    match caller.role {
        Role::Admin | Role::SuperAdmin => Some((Scope::All, View::Full)),
        Role::Billing => Some((Scope::All, View::Demographics)),
        Role::Clinician => Some((Scope::CareTeamOf(caller.user_id), View::Full)),
        Role::Compliance => None,
    }
}

/// The caller's access to patient `patient` (assumed to exist in the transaction's
/// organization), or `None` when they may not see it. Access with a `grant_id` must be audited
/// by the caller with `crate::btg::record_use` (as `api::patients::lookup::find_visible` does).
pub async fn patient_access(
    tx: &mut TenantTx,
    caller: &Caller,
    patient: Uuid,
) -> Result<Option<PatientAccess>, sqlx::Error> {
    // A platform operator already sees everything in a practice it acts in; it holds no grants.
    if matches!(caller.role, Role::Admin | Role::Clinician | Role::Billing)
        && let Some(grant) = btg::active_for(tx, caller.user_id, patient).await?
    {
        return Ok(Some(PatientAccess::through_grant(grant)));
    }
    let by_role = match caller.role {
        Role::Admin | Role::SuperAdmin => {
            Some(PatientAccess::new(View::Full, true, method_of(caller)))
        }
        Role::Billing => Some(PatientAccess::new(
            View::Demographics,
            false,
            AccessMethod::Normal,
        )),
        Role::Clinician | Role::Compliance => None,
    };
    if by_role.is_some() {
        return Ok(by_role);
    }
    if caller.role == Role::Clinician && patients::on_care_team(tx, patient, caller.user_id).await?
    {
        return Ok(Some(PatientAccess::new(
            View::Full,
            true,
            AccessMethod::Normal,
        )));
    }
    Ok(None)
}
