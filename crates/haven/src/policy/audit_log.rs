//! Who may read the audit log, verify it and export it: ADMIN and COMPLIANCE (SPEC §3, §7).

use super::Denial;
use crate::auth::caller::Caller;
use crate::domain::Role;

/// Proof that the caller may read their organization's audit trail.
#[derive(Debug, Clone, Copy)]
pub struct ReadAuditLog {
    _proof: (),
}

/// Whether the caller may read the audit log (`operation`).
pub fn read(caller: &Caller, operation: &'static str) -> Result<ReadAuditLog, Denial> {
    super::require(caller, &[Role::Admin, Role::Compliance], operation)?;
    Ok(ReadAuditLog { _proof: () })
}
