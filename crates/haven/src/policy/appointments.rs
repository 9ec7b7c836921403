//! Who may work with the calendar (SPEC §3, §6).
//!
//! | role | availability and time off | appointments |
//! |---|---|---|
//! | ADMIN, SUPER_ADMIN in a practice | every clinician's | every patient's, may override availability |
//! | SCHEDULER | every clinician's | every patient's (front-desk view), may override availability |
//! | CLINICIAN | their own | on their own calendar, of patients on their care team (or under an emergency grant) |
//! | BILLING, COMPLIANCE | none | none |
//!
//! Which patient an appointment may be of is the patient check's answer
//! (`super::patients::visible`); this file decides the calendar side.

pub use super::capability::{CalendarScope, FindSlots, ManageCalendar, Schedule};
use super::{Denial, method_of};
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::ids::{AppointmentId, UserId};

fn in_practice(caller: &Caller) -> bool {
    !caller.organization_id.is_platform()
}

/// Whether the caller may read and change clinician `clinician`'s availability and time off
/// (`operation`).
pub fn manage_calendar(
    caller: &Caller,
    operation: &'static str,
    clinician: UserId,
) -> Result<ManageCalendar, Denial> {
    let allowed = in_practice(caller)
        && match caller.role {
            Role::Admin | Role::SuperAdmin | Role::Scheduler => true,
            Role::Clinician => caller.user_id == clinician,
            Role::Billing | Role::Compliance => false,
        };
    if allowed {
        Ok(ManageCalendar::new(clinician, method_of(caller)))
    } else {
        Err(Denial::forbidden_on(
            caller, operation, "user", clinician, None,
        ))
    }
}

/// Whether the caller may book, read and move appointments at all (`operation`).
pub fn schedule(caller: &Caller, operation: &'static str) -> Result<Schedule, Denial> {
    if !in_practice(caller) {
        return Err(Denial::forbidden(caller, operation));
    }
    match caller.role {
        Role::Admin | Role::SuperAdmin | Role::Scheduler => {
            Ok(Schedule::new(CalendarScope::All, true, method_of(caller)))
        }
        Role::Clinician => Ok(Schedule::new(
            CalendarScope::ClinicianOf(caller.user_id),
            false,
            method_of(caller),
        )),
        Role::Billing | Role::Compliance => Err(Denial::forbidden(caller, operation)),
    }
}

/// As [`schedule`], refusing `operation` on appointment `id`.
pub fn schedule_on(
    caller: &Caller,
    operation: &'static str,
    id: AppointmentId,
) -> Result<Schedule, Denial> {
    schedule(caller, operation)
        .map_err(|_| Denial::forbidden_on(caller, operation, "appointment", id, None))
}

/// Whether the caller may put an appointment on clinician `clinician`'s calendar: a CLINICIAN
/// only on their own.
pub fn book_with(
    schedule: &Schedule,
    caller: &Caller,
    operation: &'static str,
    clinician: UserId,
) -> Result<(), Denial> {
    match schedule.scope() {
        CalendarScope::All => Ok(()),
        CalendarScope::ClinicianOf(me) if me == clinician => Ok(()),
        CalendarScope::ClinicianOf(_) => Err(Denial::forbidden_on(
            caller, operation, "user", clinician, None,
        )
        .with_message("Clinicians book on their own calendar only")),
    }
}

/// Whether the caller may book outside the clinician's availability (audited
/// `AVAILABILITY_OVERRIDE`): ADMIN and SCHEDULER.
pub fn override_availability(
    schedule: &Schedule,
    caller: &Caller,
    operation: &'static str,
) -> Result<(), Denial> {
    if schedule.may_override() {
        Ok(())
    } else {
        Err(Denial::forbidden(caller, operation)
            .with_reason("override_availability")
            .with_message("Only admins and schedulers may book outside availability"))
    }
}

/// Whether the caller may look for free slots (`operation`): every staff role of a practice.
pub fn find_slots(caller: &Caller, operation: &'static str) -> Result<FindSlots, Denial> {
    if in_practice(caller) {
        Ok(FindSlots::new())
    } else {
        Err(Denial::forbidden(caller, operation))
    }
}
