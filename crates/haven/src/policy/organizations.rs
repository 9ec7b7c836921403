//! Who may create and list practices: platform operators only (SPEC §3, §5).

use super::Denial;
pub use super::capability::ManageSettings;
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

/// Whether the caller may read and change their practice's settings (`operation`): ADMIN, and a
/// platform operator acting in a practice; never in the platform organization itself.
pub fn manage_settings(caller: &Caller, operation: &'static str) -> Result<ManageSettings, Denial> {
    super::require(caller, &[Role::Admin, Role::SuperAdmin], operation)?;
    if caller.organization_id.is_platform() {
        return Err(Denial::forbidden(caller, operation));
    }
    Ok(ManageSettings::new())
}
