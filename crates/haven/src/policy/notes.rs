//! Who may see and do what with clinical notes (SPEC §3, §6 "Clinical notes").
//!
//! | who | sees | does |
//! |---|---|---|
//! | the author | their notes, content included | edit and delete drafts, sign, add addenda |
//! | the author's current supervisor | the supervisee's notes, content included | co-sign or return, add addenda |
//! | a CLINICIAN on the patient's care team (or under an emergency grant) | content | write notes, add addenda |
//! | ADMIN | content | write notes, delete drafts, mark entered in error, assign supervision |
//! | BILLING, SUPER_ADMIN in a practice | headers only (type, date, status, signer, due) | — |
//! | SCHEDULER, COMPLIANCE | nothing (403) | — |
//!
//! `PSYCHOTHERAPY` notes (HIPAA §164.501) are the exception to every row but the first two:
//! only their author and the author's current supervisor see them at all — never through an
//! emergency grant, an ADMIN, a list of anyone else, an export or a charge. To everyone else
//! they answer the hidden 404 (audited `ACCESS_DENIED`, reason `psychotherapy_note`).

pub use super::capability::{
    ManageSupervision, NoteAccess, NoteAdmin, NoteAmend, NoteAuthor, NoteCreate, NoteHeader,
    NoteList, NoteScope, NoteSupervisor, NoteUse, VisibleNote,
};
use super::capability::{View, Visible};
use super::{Denial, PolicyError, method_of};
use crate::audit::AccessMethod;
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::domain::Role;
use crate::store::patients::PatientRow;
use crate::store::supervision;

/// Whether the caller may work with notes at all (`operation`): not SCHEDULER, COMPLIANCE,
/// nor a platform operator outside a practice.
pub fn use_notes(caller: &Caller, operation: &'static str) -> Result<NoteUse, Denial> {
    if caller.organization_id.is_platform()
        || matches!(caller.role, Role::Scheduler | Role::Compliance)
    {
        return Err(Denial::forbidden(caller, operation));
    }
    Ok(NoteUse::new())
}

/// The notes a list may show the caller.
pub fn list(caller: &Caller, operation: &'static str) -> Result<NoteList, Denial> {
    use_notes(caller, operation)?;
    let scope = match caller.role {
        Role::Clinician => NoteScope::ClinicianOf(caller.user_id),
        _ => NoteScope::All,
    };
    Ok(NoteList::new(scope, caller.user_id, method_of(caller)))
}

/// Whether the caller may write a note about `patient`: a CLINICIAN or ADMIN who sees the
/// patient fully (care team, emergency grant, role).
pub fn create(
    caller: &Caller,
    operation: &'static str,
    patient: &Visible<PatientRow>,
) -> Result<NoteCreate, Denial> {
    let access = patient.access();
    if matches!(caller.role, Role::Clinician | Role::Admin) && access.view == View::Full {
        Ok(NoteCreate::new(access.method))
    } else {
        let id = patient.patient_id();
        Err(
            Denial::forbidden_on(caller, operation, "patient", id, Some(id))
                .with_message("Only clinicians and admins write notes"),
        )
    }
}

/// Whether the caller may assign clinical supervision (`operation`): ADMIN, and a platform
/// operator acting in a practice.
pub fn manage_supervision(
    caller: &Caller,
    operation: &'static str,
) -> Result<ManageSupervision, Denial> {
    if caller.organization_id.is_platform() {
        return Err(Denial::forbidden(caller, operation));
    }
    super::require(caller, &[Role::Admin, Role::SuperAdmin], operation)?;
    Ok(ManageSupervision::new())
}

/// The caller's access to note `row` (found in the transaction's organization), or the hidden
/// 404. An access through an emergency grant (`access().grant_id`) must be audited
/// `BTG_USE_ACCESS` by the caller of this function, in `tx`.
pub async fn visible<T: NoteHeader>(
    tx: &mut TenantTx,
    caller: &Caller,
    _use: &NoteUse,
    row: T,
) -> Result<VisibleNote<T>, PolicyError> {
    let author = row.author_id() == caller.user_id;
    let supervisor =
        !author && supervision::supervises(tx, caller.user_id, row.author_id()).await?;
    if author || supervisor {
        let access = NoteAccess {
            content: true,
            author,
            supervisor,
            may_amend: true,
            administers: caller.role == Role::Admin && !row.is_psychotherapy(),
            method: AccessMethod::Normal,
            grant_id: None,
        };
        return Ok(VisibleNote::new(row, access));
    }
    let hidden = |reason| {
        Denial::hidden_because(
            caller,
            "note",
            row.entity_id(),
            Some(row.patient_id()),
            reason,
        )
    };
    if row.is_psychotherapy() {
        return Err(hidden("psychotherapy_note").into());
    }
    let Some(patient) = super::patients::access(tx, caller, row.patient_id()).await? else {
        return Err(hidden("not_on_care_team").into());
    };
    let content = patient.view == View::Full;
    if patient.view == View::FrontDesk {
        return Err(hidden("front_desk").into());
    }
    Ok(VisibleNote::new(
        row,
        NoteAccess {
            content,
            author: false,
            supervisor: false,
            may_amend: content && caller.role == Role::Clinician,
            administers: caller.role == Role::Admin,
            method: patient.method,
            grant_id: patient.grant_id,
        },
    ))
}
