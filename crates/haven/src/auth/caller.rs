//! `Caller`: who is making this request, established once, from a verified access token.
//!
//! This is plain data; the HTTP extractor that yields it (token, cookie and CSRF checks, the
//! MFA gate for admins, a platform operator acting inside a practice) is `http::caller`.
//! Handlers take tenancy only from here (never from a path, query or body), and the checks of
//! `policy` take it to decide what the caller may do.

use uuid::Uuid;

use crate::audit::Actor;
use crate::domain::Role;
use crate::ids::{OrganizationId, UserId};

/// How the request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: DPoP <token>` with a proof of the key the token is bound to.
    Dpop,
    /// The httpOnly session cookie (unsafe methods also need `X-CSRF-Token`).
    Cookie,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user_id: UserId,
    /// Their organization: the tenant of everything this request touches. For a platform
    /// operator acting inside a practice, that practice.
    pub organization_id: OrganizationId,
    /// Their role.
    pub role: Role,
    /// The login session (refresh family) the token belongs to.
    pub session_id: Uuid,
    /// Bearer, DPoP or cookie.
    pub auth_method: AuthMethod,
}

impl Caller {
    /// Whether the caller has `role`.
    #[must_use]
    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }

    /// The caller as the actor of an audit event.
    #[must_use]
    pub fn actor(&self) -> Actor {
        Actor::new(self.user_id, self.role)
    }

    /// Whether this is a platform operator acting inside a practice (`X-Haven-Organization`):
    /// administrative actions are allowed, PHI is not (SPEC §3).
    #[must_use]
    pub fn is_operator_in_practice(&self) -> bool {
        self.role == Role::SuperAdmin && !self.organization_id.is_platform()
    }
}
