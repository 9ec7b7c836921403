//! Who may grant, see, revoke and review emergency (break-the-glass) access (SPEC §5).
//!
//! | operation | roles |
//! |---|---|
//! | the configuration, the list, revoke | ADMIN, COMPLIANCE |
//! | grant | ADMIN |
//! | review | COMPLIANCE, or an ADMIN who neither granted nor holds the grant |
//!
//! A platform operator gets 403 here even when acting in a practice: an emergency grant is
//! the practice's own procedure, attributable to one of its accounts (and the operator already
//! reaches every patient of a practice it acts in, audited `SUPER_ADMIN_BYPASS`). Who may
//! *use* a grant is `super::patients`'s question.

use super::Denial;
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::ids::{GrantId, UserId};

/// Proof that the caller may open emergency access (ADMIN).
#[derive(Debug, Clone, Copy)]
pub struct GrantAccess {
    _proof: (),
}

/// Whether the caller may grant emergency access.
pub fn grant(caller: &Caller) -> Result<GrantAccess, Denial> {
    super::require(caller, &[Role::Admin], "create_btg_grant")?;
    Ok(GrantAccess { _proof: () })
}

/// Proof that the caller oversees emergency access: sees grants and may revoke them.
#[derive(Debug, Clone, Copy)]
pub struct OverseeGrants {
    /// Whether patient names may be shown (ADMIN), or only ids (COMPLIANCE).
    names: bool,
    reviewer: Role,
    user: UserId,
}

impl OverseeGrants {
    /// Whether the caller sees the patients' names and MRNs (ADMIN), not only their ids.
    #[must_use]
    pub fn sees_patient_names(&self) -> bool {
        self.names
    }

    /// Whether the caller may review the grant given by `granted_by` to `granted_to`:
    /// COMPLIANCE any, an ADMIN one they are not part of; else the 403 (reason `own_grant`).
    pub fn may_review(
        &self,
        caller: &Caller,
        grant: GrantId,
        granted_by: UserId,
        granted_to: UserId,
    ) -> Result<(), Denial> {
        let involved = granted_by == self.user || granted_to == self.user;
        if self.reviewer == Role::Admin && involved {
            return Err(
                Denial::forbidden_on(caller, "review_btg_grant", "btg_grant", grant, None)
                    .with_reason("own_grant")
                    .with_message(
                        "An admin who granted or holds this emergency access cannot review it",
                    ),
            );
        }
        Ok(())
    }
}

/// Whether the caller oversees emergency access (`operation`).
pub fn oversee(caller: &Caller, operation: &'static str) -> Result<OverseeGrants, Denial> {
    super::require(caller, &[Role::Admin, Role::Compliance], operation)?;
    Ok(OverseeGrants {
        names: caller.role == Role::Admin,
        reviewer: caller.role,
        user: caller.user_id,
    })
}

/// Whether a user of `role` may be given emergency access to a patient: anyone but
/// COMPLIANCE, whose role holds no PHI.
#[must_use]
pub fn may_receive(role: Role) -> bool {
    role != Role::Compliance
}
