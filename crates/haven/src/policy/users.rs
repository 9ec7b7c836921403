//! Who may manage accounts (SPEC §3, §5): a practice's admins manage its users; platform
//! operators manage the platform's own operators (and, acting in a practice, its users).
//! Nobody changes their own role.

use super::Denial;
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::ids::{OrganizationId, UserId};

/// Proof that the caller may create, list, read and change the accounts of their
/// organization.
#[derive(Debug, Clone, Copy)]
pub struct ManageUsers {
    manager: Role,
    organization: OrganizationId,
}

/// Whether the caller may manage users, refusing `operation`.
pub fn manage(caller: &Caller, operation: &'static str) -> Result<ManageUsers, Denial> {
    super::require(caller, &[Role::Admin, Role::SuperAdmin], operation)?;
    Ok(ManageUsers {
        manager: caller.role,
        organization: caller.organization_id,
    })
}

impl ManageUsers {
    /// Whether the caller may give user `user` (a new account when `None`) role `role`:
    /// never their own role, and only the roles [`Self::may_assign`] allows.
    pub fn give_role(
        &self,
        caller: &Caller,
        user: Option<UserId>,
        role: Role,
    ) -> Result<(), Denial> {
        if user == Some(caller.user_id) {
            return Err(Denial::escalation(
                caller,
                user,
                role,
                "You cannot change your own role",
            ));
        }
        if !self.may_assign(role) {
            return Err(Denial::escalation(
                caller,
                user,
                role,
                "You cannot give this role",
            ));
        }
        Ok(())
    }

    /// The operator at the command line (`haven admin ...`), who manages `organization` by
    /// holding the machine: a practice's admin powers there, a platform operator's in the
    /// platform.
    #[must_use]
    pub fn command_line(organization: OrganizationId) -> Self {
        let manager = if organization.is_platform() {
            Role::SuperAdmin
        } else {
            Role::Admin
        };
        Self {
            manager,
            organization,
        }
    }

    /// Whether the manager may give `role` in their organization: a practice's admin (or a
    /// platform operator acting in a practice) any practice role; a platform operator in the
    /// platform organization only platform operators. SUPER_ADMIN never goes into a practice.
    #[must_use]
    pub fn may_assign(&self, role: Role) -> bool {
        let in_platform = self.organization.is_platform();
        match self.manager {
            Role::SuperAdmin if in_platform => role == Role::SuperAdmin,
            Role::SuperAdmin | Role::Admin => role != Role::SuperAdmin && !in_platform,
            _ => false,
        }
    }
}

/// Whether a user of `role` is held to their organization's MFA requirement (ADMIN and
/// SUPER_ADMIN may reach only the auth routes, to enrol, until they have MFA).
#[must_use]
pub fn held_to_mfa(role: Role) -> bool {
    matches!(role, Role::Admin | Role::SuperAdmin)
}
