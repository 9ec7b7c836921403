//! Who may work with charges, their exports and the fee schedule (SPEC §6 "Charges"): ADMIN and
//! BILLING of the practice. Everyone else — a CLINICIAN, SCHEDULER, COMPLIANCE, and a platform
//! operator, who sees no PHI — gets an audited 403.

use super::Denial;
pub use super::capability::ManageCharges;
use crate::auth::caller::Caller;
use crate::domain::Role;

/// Whether the caller may do `operation` on charges.
pub fn manage(caller: &Caller, operation: &'static str) -> Result<ManageCharges, Denial> {
    super::require(caller, &[Role::Admin, Role::Billing], operation)?;
    Ok(ManageCharges::new())
}
