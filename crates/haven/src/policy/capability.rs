//! The capabilities the checks of this module hand out, and the rows they make visible.
//!
//! Each is a value only `policy` can make (private fields, constructors visible to `policy`
//! alone); the store's functions that write, or read PHI, take one. This file depends on no
//! store module, so the store can name these types without a cycle.

use uuid::Uuid;

use super::Denial;
use crate::audit::AccessMethod;
use crate::auth::caller::Caller;
use crate::ids::{GrantId, PatientId, UserId};

/// Which patients a list may show.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// Every patient of the organization.
    All,
    /// Those on this user's care team.
    CareTeamOf(UserId),
}

/// How much of a patient the caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Every field.
    Full,
    /// Name, date of birth and MRN only (billing).
    Demographics,
    /// Name, date of birth, MRN, phone and email (the front desk).
    FrontDesk,
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
    pub(super) const fn new(view: View, can_update: bool, method: AccessMethod) -> Self {
        Self {
            view,
            can_update,
            method,
            grant_id: None,
        }
    }

    /// What a care-team clinician may do, through emergency grant `grant`.
    pub(super) const fn through_grant(grant: GrantId) -> Self {
        Self {
            view: View::Full,
            can_update: true,
            method: AccessMethod::BreakTheGlass,
            grant_id: Some(grant),
        }
    }
}

/// Proof that the caller may work with patients at all (and what hangs off them): every role
/// but COMPLIANCE, inside a practice. Needed to look a patient, an authorization or a session
/// up; what the caller may do with the one found is [`visible`]'s answer.
#[derive(Debug, Clone, Copy)]
pub struct PatientUse {
    _proof: (),
}

impl PatientUse {
    pub(super) const fn new() -> Self {
        Self { _proof: () }
    }
}

/// Proof that the caller may create and delete patients and manage care teams (ADMIN, and a
/// platform operator acting in a practice).
#[derive(Debug, Clone, Copy)]
pub struct ManagePatients {
    method: AccessMethod,
}

impl ManagePatients {
    pub(super) const fn new(method: AccessMethod) -> Self {
        Self { method }
    }

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

/// The patients a list may show the caller, and how much of each.
#[derive(Debug, Clone, Copy)]
pub struct PatientList {
    scope: Scope,
    view: View,
    method: AccessMethod,
}

impl PatientList {
    pub(super) const fn new(scope: Scope, view: View, method: AccessMethod) -> Self {
        Self {
            scope,
            view,
            method,
        }
    }

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

/// A stored thing that belongs to one patient: access to it is access to that patient.
pub trait OfPatient {
    /// Its kind, for the audit trail (`patient`, `authorization`, `session`).
    const ENTITY: &'static str;
    /// Its id.
    fn entity_id(&self) -> Uuid;
    /// Its patient.
    fn patient_id(&self) -> PatientId;
}

/// A row the caller may see, with the access that allowed it. Only [`visible`] makes one;
/// the store's functions that change a patient's data take it (or its [`PatientWrite`]).
#[derive(Debug)]
pub struct Visible<T> {
    row: T,
    access: PatientAccess,
}

impl<T: OfPatient> Visible<T> {
    pub(super) const fn new(row: T, access: PatientAccess) -> Self {
        Self { row, access }
    }

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

/// Proof that the caller may create and adjust authorizations (ADMIN, BILLING, and a platform
/// operator acting in a practice).
#[derive(Debug, Clone, Copy)]
pub struct ManageAuthorizations {
    _proof: (),
}

impl ManageAuthorizations {
    pub(super) const fn new() -> Self {
        Self { _proof: () }
    }
}

/// Proof that the caller may read and change the practice's settings (ADMIN, and a platform
/// operator acting in a practice).
#[derive(Debug, Clone, Copy)]
pub struct ManageSettings {
    _proof: (),
}

impl ManageSettings {
    pub(super) const fn new() -> Self {
        Self { _proof: () }
    }
}

/// Proof that the caller may set clinician [`ManageCalendar::clinician`]'s availability and
/// time off (ADMIN, SCHEDULER, the clinician themself).
#[derive(Debug, Clone, Copy)]
pub struct ManageCalendar {
    clinician: UserId,
    method: AccessMethod,
}

impl ManageCalendar {
    pub(super) const fn new(clinician: UserId, method: AccessMethod) -> Self {
        Self { clinician, method }
    }

    /// Whose calendar.
    #[must_use]
    pub fn clinician(&self) -> UserId {
        self.clinician
    }

    /// The audit access method.
    #[must_use]
    pub fn method(&self) -> AccessMethod {
        self.method
    }
}

/// Which appointments the caller sees in lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarScope {
    /// Every appointment of the practice.
    All,
    /// A clinician's: their own calendar and their care-team patients' appointments.
    ClinicianOf(UserId),
}

/// Proof that the caller may book and move appointments: ADMIN, SCHEDULER and a platform
/// operator acting in a practice for any clinician, a CLINICIAN on their own calendar. Which
/// patient is the patient check's answer ([`Visible`]).
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    scope: CalendarScope,
    may_override: bool,
    method: AccessMethod,
}

impl Schedule {
    pub(super) const fn new(
        scope: CalendarScope,
        may_override: bool,
        method: AccessMethod,
    ) -> Self {
        Self {
            scope,
            may_override,
            method,
        }
    }

    /// Which appointments the caller sees.
    #[must_use]
    pub fn scope(&self) -> CalendarScope {
        self.scope
    }

    /// Whether the caller may book outside a clinician's availability.
    #[must_use]
    pub fn may_override(&self) -> bool {
        self.may_override
    }

    /// The audit access method of the caller's ordinary access.
    #[must_use]
    pub fn method(&self) -> AccessMethod {
        self.method
    }

    /// Seeing the calendar implies working with patients (to book them).
    #[must_use]
    pub fn patient_use(&self) -> PatientUse {
        PatientUse { _proof: () }
    }
}

/// Proof that the caller may look for free slots: every staff role inside a practice (the
/// answer holds no PHI).
#[derive(Debug, Clone, Copy)]
pub struct FindSlots {
    _proof: (),
}

impl FindSlots {
    pub(super) const fn new() -> Self {
        Self { _proof: () }
    }
}

/// Proof that the caller may work with the waitlist: ADMIN, SCHEDULER and a platform operator
/// acting in a practice for every patient, a CLINICIAN for their care-team patients. Which
/// patient is the patient check's answer ([`Visible`]).
#[derive(Debug, Clone, Copy)]
pub struct ManageWaitlist {
    scope: Scope,
    method: AccessMethod,
}

impl ManageWaitlist {
    pub(super) const fn new(scope: Scope, method: AccessMethod) -> Self {
        Self { scope, method }
    }

    /// Whose entries the caller sees in lists and rankings.
    #[must_use]
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The audit access method of the caller's ordinary access.
    #[must_use]
    pub fn method(&self) -> AccessMethod {
        self.method
    }

    /// Working with the waitlist implies working with patients.
    #[must_use]
    pub fn patient_use(&self) -> PatientUse {
        PatientUse { _proof: () }
    }
}

/// Proof that the caller may work with clinical notes at all: ADMIN, CLINICIAN, BILLING
/// (headers only), and a platform operator acting in a practice (headers only). Which note is
/// [`VisibleNote`]'s answer.
#[derive(Debug, Clone, Copy)]
pub struct NoteUse {
    _proof: (),
}

impl NoteUse {
    pub(super) const fn new() -> Self {
        Self { _proof: () }
    }

    /// Working with notes implies working with patients (to name one).
    #[must_use]
    pub fn patient_use(&self) -> PatientUse {
        PatientUse { _proof: () }
    }
}

/// A stored note, as much as the access decision needs.
pub trait NoteHeader: OfPatient {
    /// Its author.
    fn author_id(&self) -> UserId;
    /// Whether it is a psychotherapy note (HIPAA §164.501).
    fn is_psychotherapy(&self) -> bool;
}

/// How the caller may see one note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoteAccess {
    /// Whether they may read its content (sections, signatures' statements, addenda).
    pub content: bool,
    /// Whether they wrote it.
    pub author: bool,
    /// Whether they are its author's current supervisor.
    pub supervisor: bool,
    /// Whether their role and relation let them correct it with an addendum.
    pub may_amend: bool,
    /// Whether their role lets them delete its draft or mark it entered in error (ADMIN).
    pub administers: bool,
    /// How the access came about, for the audit trail.
    pub method: AccessMethod,
    /// The emergency grant the access comes through, if any.
    pub grant_id: Option<GrantId>,
}

/// A note the caller may see, with the access that allowed it. Only `notes::visible` makes one.
#[derive(Debug)]
pub struct VisibleNote<T> {
    row: T,
    access: NoteAccess,
}

/// Proof that the caller wrote the note (edit, sign, delete its draft).
#[derive(Debug, Clone, Copy)]
pub struct NoteAuthor {
    _proof: (),
}

/// Proof that the caller is the note's author's current supervisor (co-sign, return).
#[derive(Debug, Clone, Copy)]
pub struct NoteSupervisor {
    _proof: (),
}

/// Proof that the caller may delete the note's draft (its author, an ADMIN) or mark it entered
/// in error (an ADMIN).
#[derive(Debug, Clone, Copy)]
pub struct NoteAdmin {
    _proof: (),
}

/// Proof that the caller may append a signed addendum to the note.
#[derive(Debug, Clone, Copy)]
pub struct NoteAmend {
    _proof: (),
}

impl<T: NoteHeader> VisibleNote<T> {
    pub(super) const fn new(row: T, access: NoteAccess) -> Self {
        Self { row, access }
    }

    /// The row.
    #[must_use]
    pub fn row(&self) -> &T {
        &self.row
    }

    /// The access that allowed it.
    #[must_use]
    pub fn access(&self) -> &NoteAccess {
        &self.access
    }

    /// Its patient.
    #[must_use]
    pub fn patient_id(&self) -> PatientId {
        self.row.patient_id()
    }

    fn refuse(&self, caller: &Caller, operation: &'static str, message: &'static str) -> Denial {
        let patient = self.row.patient_id();
        Denial::forbidden_on(
            caller,
            operation,
            "note",
            self.row.entity_id(),
            Some(patient),
        )
        .with_message(message)
    }

    /// Proof that the caller wrote it, or the 403.
    pub fn authored(&self, caller: &Caller, operation: &'static str) -> Result<NoteAuthor, Denial> {
        if self.access.author {
            Ok(NoteAuthor { _proof: () })
        } else {
            Err(self.refuse(caller, operation, "Only the note's author may do this"))
        }
    }

    /// Proof that the caller supervises its author, or the 403 (its author co-signing their own
    /// note included).
    pub fn supervised(
        &self,
        caller: &Caller,
        operation: &'static str,
    ) -> Result<NoteSupervisor, Denial> {
        if self.access.author {
            return Err(self
                .refuse(
                    caller,
                    operation,
                    "A note cannot be co-signed by its own author",
                )
                .with_reason("own_note"));
        }
        if self.access.supervisor {
            Ok(NoteSupervisor { _proof: () })
        } else {
            Err(self.refuse(
                caller,
                operation,
                "Only the author's assigned supervisor may co-sign",
            ))
        }
    }

    /// Proof that the caller may delete its draft: its author or an ADMIN.
    pub fn deletable(&self, caller: &Caller, operation: &'static str) -> Result<NoteAdmin, Denial> {
        if self.access.author || self.access.administers {
            Ok(NoteAdmin { _proof: () })
        } else {
            Err(self.refuse(
                caller,
                operation,
                "Only the author or an admin may delete a draft",
            ))
        }
    }

    /// Proof that the caller may mark it entered in error: an ADMIN.
    pub fn administered(
        &self,
        caller: &Caller,
        operation: &'static str,
    ) -> Result<NoteAdmin, Denial> {
        if self.access.administers {
            Ok(NoteAdmin { _proof: () })
        } else {
            Err(self.refuse(caller, operation, "Only an admin may do this"))
        }
    }

    /// Proof that the caller may add an addendum.
    pub fn amendable(&self, caller: &Caller, operation: &'static str) -> Result<NoteAmend, Denial> {
        if self.access.may_amend {
            Ok(NoteAmend { _proof: () })
        } else {
            Err(self.refuse(
                caller,
                operation,
                "Only the author or a clinician who may read the note may add an addendum",
            ))
        }
    }
}

/// Which notes a list may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteScope {
    /// Every note of the practice (psychotherapy notes: only the caller's own or their
    /// supervisees').
    All,
    /// A clinician's: their own, their supervisees', and their care-team patients'.
    ClinicianOf(UserId),
}

/// The notes a list may show the caller (headers only, always).
#[derive(Debug, Clone, Copy)]
pub struct NoteList {
    scope: NoteScope,
    user: UserId,
    method: AccessMethod,
}

impl NoteList {
    pub(super) const fn new(scope: NoteScope, user: UserId, method: AccessMethod) -> Self {
        Self {
            scope,
            user,
            method,
        }
    }

    /// Which notes.
    #[must_use]
    pub fn scope(&self) -> NoteScope {
        self.scope
    }

    /// Who asks (psychotherapy notes are listed to their author and the author's supervisor).
    #[must_use]
    pub fn user(&self) -> UserId {
        self.user
    }

    /// The audit access method.
    #[must_use]
    pub fn method(&self) -> AccessMethod {
        self.method
    }
}

/// Proof that the caller may write a note about a patient they may see fully (a CLINICIAN on
/// the care team or under an emergency grant, an ADMIN).
#[derive(Debug, Clone, Copy)]
pub struct NoteCreate {
    method: AccessMethod,
}

impl NoteCreate {
    pub(super) const fn new(method: AccessMethod) -> Self {
        Self { method }
    }

    /// The audit access method.
    #[must_use]
    pub fn method(&self) -> AccessMethod {
        self.method
    }
}

/// Proof that the caller may assign clinical supervision (ADMIN).
#[derive(Debug, Clone, Copy)]
pub struct ManageSupervision {
    _proof: (),
}

impl ManageSupervision {
    pub(super) const fn new() -> Self {
        Self { _proof: () }
    }
}

/// Proof that the caller may work with the practice's charges and fee schedule (ADMIN and
/// BILLING; SPEC §6).
#[derive(Debug, Clone, Copy)]
pub struct ManageCharges {
    _proof: (),
}

impl ManageCharges {
    pub(super) const fn new() -> Self {
        Self { _proof: () }
    }
}
