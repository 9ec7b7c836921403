//! Who may create and list practices: platform operators only (SPEC §3, §5).

use super::Denial;
use crate::auth::caller::Caller;
use crate::domain::Role;

/// Proof that the caller is a platform operator at the platform level.
#[derive(Debug, Clone, Copy)]
pub struct OperatePlatform {
    _proof: (),
}

/// Whether the caller may create or list organizations (`operation`).
pub fn operate(caller: &Caller, operation: &'static str) -> Result<OperatePlatform, Denial> {
    super::require(caller, &[Role::SuperAdmin], operation)?;
    Ok(OperatePlatform { _proof: () })
}

/// Whether the caller may act inside organization `target` (header `X-Haven-Organization`):
/// only a platform operator may; anyone else sending the header is attempting another
/// practice's data.
pub fn act_in(caller: &Caller, target: crate::ids::OrganizationId) -> Result<(), Denial> {
    if caller.role == Role::SuperAdmin {
        Ok(())
    } else {
        Err(Denial::cross_tenant(caller, "organization", target, target)
            .answered_forbidden("Only platform operators may act in another organization"))
    }
}
