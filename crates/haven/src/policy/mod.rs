//! Who may do what (SPEC §3). This module is the only place that decides it: every check is a
//! function of one area's file (`patients`, `units`, `users`, `btg`, `audit_log`,
//! `organizations`) that answers either a **capability** or a [`Denial`].
//!
//! A capability is a value only this module can make (its fields are private). The store's
//! functions that write, or read PHI, take one as an argument, so a handler that skips the check
//! has nothing to pass and does not compile. For example, deleting a patient needs
//! [`capability::ManagePatients`], which only [`patients::manage`] gives out:
//!
//! ```compile_fail,E0451
//! use haven::policy::capability::ManagePatients;
//! // error[E0451]: field `method` of struct `ManagePatients` is private
//! let forged = ManagePatients { method: haven::audit::AccessMethod::Normal };
//! ```
//!
//! and the store will not delete without it:
//!
//! ```compile_fail,E0061
//! async fn delete(tx: &mut haven::db::TenantTx, id: haven::ids::PatientId) {
//!     // error[E0061]: this function takes 3 arguments but 2 arguments were supplied
//!     haven::store::patients::soft_delete(tx, id).await;
//! }
//! ```
//!
//! Access to one patient (and to what hangs off a patient: authorizations, sessions) is a
//! [`capability::Visible`] row, made by [`patients::visible`] after the role, an emergency
//! (break-the-glass) grant or the care team allowed it. A denial carries the audit event of
//! the refusal; the HTTP layer (`http::refusal`) records it for every resource in one place.

mod denial;

pub mod appointments;
pub mod audit_log;
pub mod btg;
pub mod capability;
pub mod charges;
pub mod notes;
pub mod organizations;
pub mod patients;
pub mod realtime;
pub mod security;
pub mod units;
pub mod users;
pub mod waitlist;

pub use denial::{Denial, PolicyError};

use crate::audit::AccessMethod;
use crate::auth::caller::Caller;
use crate::domain::Role;

/// The audit access method of a role's ordinary access: a platform operator inside a practice
/// is `super_admin_bypass`, everyone else `normal`.
#[must_use]
pub fn method_of(caller: &Caller) -> AccessMethod {
    if caller.role == Role::SuperAdmin {
        AccessMethod::SuperAdminBypass
    } else {
        AccessMethod::Normal
    }
}

/// `Ok` when the caller's role is one of `allowed`, else the 403 for `operation`.
fn require(caller: &Caller, allowed: &[Role], operation: &'static str) -> Result<(), Denial> {
    if allowed.contains(&caller.role) {
        Ok(())
    } else {
        Err(Denial::forbidden(caller, operation))
    }
}
