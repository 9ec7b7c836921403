//! Who may see and do what with a patient (SPEC §3).
//!
//! | role | patients | fields | writes |
//! |---|---|---|---|
//! | ADMIN | all of the organization's | all | create, update, delete, care teams |
//! | CLINICIAN | those on their care team | all | update |
//! | BILLING | all of the organization's | name, date of birth, MRN | none |
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

use uuid::Uuid;

use super::{Denial, PolicyError, method_of};
use crate::audit::AccessMethod;
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::domain::Role;
use crate::ids::{GrantId, PatientId};
use crate::store::btg;
use crate::store::patients::{self, PatientRow, Scope};

/// How much of a patient the caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Every field.
    Full,
    /// Name, date of birth and MRN only (billing).
    Demographics,
    /// The ids only: a platform operator acting in a practice never sees PHI.
    Masked,
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
    pub grant_id: Option<GrantId>,
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
    const fn through_grant(grant: GrantId) -> Self {
        Self {
            view: View::Full,
            can_update: true,
            method: AccessMethod::BreakTheGlass,
            grant_id: Some(grant),
        }
    }
}

/// The view of a role that sees every patient of the practice.
fn role_view(caller: &Caller) -> View {
    if caller.is_operator_in_practice() {
        View::Masked
    } else {
        View::Full
    }
}

/// Proof that the caller may work with patients at all (and what hangs off them): every role
/// but COMPLIANCE, inside a practice. Needed to look a patient, an authorization or a session
/// up; what the caller may do with the one found is [`visible`]'s answer.
#[derive(Debug, Clone, Copy)]
pub struct PatientUse {
    _proof: (),
}

/// Whether the caller may touch patients at all: COMPLIANCE may not (a 403, not a 404), and
/// neither may a platform operator outside a practice (the platform holds no PHI).
pub fn use_patients(caller: &Caller, operation: &'static str) -> Result<PatientUse, Denial> {
    if matches!(caller.role, Role::Compliance) || caller.organization_id.is_platform() {
        return Err(Denial::forbidden(caller, operation));
    }
    Ok(PatientUse { _proof: () })
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

/// Proof that the caller may create and delete patients and manage care teams (ADMIN, and a
/// platform operator acting in a practice).
#[derive(Debug, Clone, Copy)]
pub struct ManagePatients {
    method: AccessMethod,
}

impl ManagePatients {
    /// The audit access method of the caller's management.
    #[must_use]
    pub fn method(&self) -> AccessMethod {
        self.method
    }

    /// What the manager sees of the patients they manage.
    #[must_use]
    pub fn view(&self) -> View {
        if self.method == AccessMethod::SuperAdminBypass {
            View::Masked
        } else {
            View::Full
        }
    }
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
    Ok(ManagePatients {
        method: method_of(caller),
    })
}

/// The patients a list may show the caller, and how much of each.
#[derive(Debug, Clone, Copy)]
pub struct PatientList {
    scope: Scope,
    view: View,
    method: AccessMethod,
}

impl PatientList {
    /// Which patients.
    #[must_use]
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// How much of each.
    #[must_use]
    pub fn view(&self) -> View {
        self.view
    }

    /// The audit access method of each row shown.
    #[must_use]
    pub fn method(&self) -> AccessMethod {
        self.method
    }
}

/// The patients (and their authorizations and sessions) a list may show the caller.
pub fn list(caller: &Caller, operation: &'static str) -> Result<PatientList, Denial> {
    use_patients(caller, operation)?;
    let (scope, view) = match caller.role {
        Role::Admin | Role::SuperAdmin => (Scope::All, role_view(caller)),
        Role::Billing => (Scope::All, View::Demographics),
        Role::Clinician => (Scope::CareTeamOf(caller.user_id), View::Full),
        Role::Compliance => return Err(Denial::forbidden(caller, operation)),
    };
    Ok(PatientList {
        scope,
        view,
        method: method_of(caller),
    })
}

/// A stored thing that belongs to one patient: access to it is access to that patient.
pub trait OfPatient {
    /// Its kind, for the audit trail (`patient`, `authorization`, `session`).
    const ENTITY: &'static str;
    /// Its id.
    fn entity_id(&self) -> Uuid;
    /// Its patient.
    fn patient_id(&self) -> PatientId;
}

impl OfPatient for PatientRow {
    const ENTITY: &'static str = "patient";
    fn entity_id(&self) -> Uuid {
        self.id.as_uuid()
    }
    fn patient_id(&self) -> PatientId {
        self.id
    }
}

/// A row the caller may see, with the access that allowed it. Only [`visible`] makes one;
/// the store's functions that change a patient's data take it (or its [`PatientWrite`]).
#[derive(Debug)]
pub struct Visible<T> {
    row: T,
    access: PatientAccess,
}

impl<T: OfPatient> Visible<T> {
    /// The row.
    #[must_use]
    pub fn row(&self) -> &T {
        &self.row
    }

    /// The row, taken out (the proof of access goes with it).
    #[must_use]
    pub fn into_row(self) -> T {
        self.row
    }

    /// The access that allowed it.
    #[must_use]
    pub fn access(&self) -> &PatientAccess {
        &self.access
    }

    /// Its patient.
    #[must_use]
    pub fn patient_id(&self) -> PatientId {
        self.row.patient_id()
    }

    /// The same access, to another row of the same patient (a row the store returned after a
    /// change of this one, say).
    #[must_use]
    pub fn carry<U: OfPatient>(&self, row: U) -> Option<Visible<U>> {
        (row.patient_id() == self.patient_id()).then_some(Visible {
            row,
            access: self.access,
        })
    }

    /// Seeing a patient implies working with patients.
    #[must_use]
    pub fn patient_use(&self) -> PatientUse {
        PatientUse { _proof: () }
    }

    /// Proof that the caller may change this patient's data (`operation`), or the 403.
    pub fn writable(
        &self,
        caller: &Caller,
        operation: &'static str,
    ) -> Result<PatientWrite, Denial> {
        if self.access.can_update {
            Ok(PatientWrite {
                patient: self.patient_id(),
                method: self.access.method,
            })
        } else {
            let patient = self.patient_id();
            Err(Denial::forbidden_on(
                caller,
                operation,
                "patient",
                patient,
                Some(patient),
            ))
        }
    }
}

/// Proof that the caller may change patient [`PatientWrite::patient`]'s data.
#[derive(Debug, Clone, Copy)]
pub struct PatientWrite {
    patient: PatientId,
    method: AccessMethod,
}

impl PatientWrite {
    /// The patient.
    #[must_use]
    pub fn patient(&self) -> PatientId {
        self.patient
    }

    /// The audit access method.
    #[must_use]
    pub fn method(&self) -> AccessMethod {
        self.method
    }
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
        Some(access) => Ok(Visible { row, access }),
        None => {
            Err(Denial::hidden(caller, T::ENTITY, row.entity_id(), Some(row.patient_id())).into())
        }
    }
}

/// The caller's access to patient `patient` (assumed to exist in the transaction's
/// organization), or `None` when they may not see it.
async fn access(
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
        Role::Clinician if patients::on_care_team(tx, patient, caller.user_id).await? => {
            Some(PatientAccess::new(View::Full, true, AccessMethod::Normal))
        }
        Role::Clinician | Role::Compliance => None,
    })
}
