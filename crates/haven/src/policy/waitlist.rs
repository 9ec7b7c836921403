//! Who may work with the waitlist (SPEC §3, §6).
//!
//! | role | entries | offers |
//! |---|---|---|
//! | ADMIN, SUPER_ADMIN in a practice | every patient's | on any clinician's calendar |
//! | SCHEDULER | every patient's (front-desk view) | on any clinician's calendar |
//! | CLINICIAN | their care-team patients' | on their own calendar, for their care-team patients |
//! | BILLING, COMPLIANCE | none (SPEC §3 gives BILLING authorizations, sessions and charges, not the waitlist) | none |
//!
//! Which patient an entry may be of is the patient check's answer (`super::patients::visible`);
//! an offer is an appointment, so its calendar side is `super::appointments`'s decision.

pub use super::capability::ManageWaitlist;
use super::capability::{CalendarScope, OfPatient, PatientAccess, Schedule, Scope, View, Visible};
use super::{Denial, method_of};
use crate::audit::AccessMethod;
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::ids::{WaitlistEntryId, WaitlistOfferId};

/// Whether the caller may read and change waitlist entries and offers at all (`operation`).
pub fn manage(caller: &Caller, operation: &'static str) -> Result<ManageWaitlist, Denial> {
    if caller.organization_id.is_platform() {
        return Err(Denial::forbidden(caller, operation));
    }
    match caller.role {
        Role::Admin | Role::SuperAdmin | Role::Scheduler => {
            Ok(ManageWaitlist::new(Scope::All, method_of(caller)))
        }
        Role::Clinician => Ok(ManageWaitlist::new(
            Scope::CareTeamOf(caller.user_id),
            method_of(caller),
        )),
        Role::Billing | Role::Compliance => Err(Denial::forbidden(caller, operation)),
    }
}

/// As [`manage`], refusing `operation` on entry `id`.
pub fn manage_entry(
    caller: &Caller,
    operation: &'static str,
    id: WaitlistEntryId,
) -> Result<ManageWaitlist, Denial> {
    manage(caller, operation)
        .map_err(|_| Denial::forbidden_on(caller, operation, "waitlist_entry", id, None))
}

/// As [`manage`], refusing `operation` on offer `id`.
pub fn manage_offer(
    caller: &Caller,
    operation: &'static str,
    id: WaitlistOfferId,
) -> Result<ManageWaitlist, Denial> {
    manage(caller, operation)
        .map_err(|_| Denial::forbidden_on(caller, operation, "waitlist_offer", id, None))
}

/// What Haven itself may do to fill a freed slot from the waitlist when the practice asked for
/// it (`waitlistAutoOffer: "sequential"`): rank every patient's entries, hold the slot for the
/// best one and reserve that entry's units, audited with access method `system`. Only
/// [`auto_offer`] makes one.
#[derive(Debug, Clone, Copy)]
pub struct AutoOffer {
    manage: ManageWaitlist,
    schedule: Schedule,
}

impl AutoOffer {
    /// The waitlist side: every entry of the practice.
    #[must_use]
    pub fn manage(&self) -> &ManageWaitlist {
        &self.manage
    }

    /// The calendar side: any clinician's calendar, within availability.
    #[must_use]
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Access to `row`'s patient, for the offer's unit reservation.
    #[must_use]
    pub fn visible<T: OfPatient>(&self, row: T) -> Visible<T> {
        Visible::new(
            row,
            PatientAccess::new(View::Masked, false, AccessMethod::System),
        )
    }
}

/// The auto-offer capability when the practice's setting `mode` is `sequential`, else `None`.
#[must_use]
pub fn auto_offer(mode: &str) -> Option<AutoOffer> {
    (mode == "sequential").then_some(AutoOffer {
        manage: ManageWaitlist::new(Scope::All, AccessMethod::System),
        schedule: Schedule::new(CalendarScope::All, false, AccessMethod::System),
    })
}
