//! What a refused caller is told, and what the audit trail records about it.
//!
//! A check of this module answers either a capability or a [`Denial`]. The denial says what
//! the client sees (403 `FORBIDDEN`, or a 404 that does not reveal whether the thing exists)
//! and carries the audit event of the refusal; the HTTP layer records that event in one place,
//! after the request's own transaction is gone, so a refused request never holds two database
//! connections.

use serde_json::json;

use crate::audit::{Actor, AuditAction, AuditEvent, Outcome};
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::ids::{OrganizationId, PatientId, UserId};

/// Why the caller is refused.
#[derive(Debug, Clone)]
enum Kind {
    /// The role may not do `operation` (403, audited `ACCESS_DENIED`).
    Forbidden {
        operation: &'static str,
        entity: Option<(&'static str, String)>,
        patient: Option<PatientId>,
        message: Option<&'static str>,
        reason: Option<&'static str>,
    },
    /// The thing exists in the caller's organization but they may not see it (404, audited
    /// `ACCESS_DENIED`).
    Hidden {
        entity: &'static str,
        id: String,
        patient: Option<PatientId>,
        reason: &'static str,
    },
    /// The thing belongs to another organization (404, audited `CROSS_TENANT_ACCESS_ATTEMPT`
    /// naming both organizations).
    CrossTenant {
        entity: &'static str,
        id: String,
        owner: OrganizationId,
    },
    /// A role the caller may not give, or their own role (403, audited
    /// `ROLE_ESCALATION_ATTEMPT`).
    Escalation {
        user: Option<String>,
        requested: Role,
        message: &'static str,
    },
    /// Nothing of that id exists anywhere (404, nothing to audit).
    Missing,
}

/// A refusal: the answer the caller gets and the audit row it leaves.
#[derive(Debug, Clone)]
pub struct Denial {
    organization_id: OrganizationId,
    actor: Actor,
    // Boxed: a denial travels in every check's `Err`, which stays small this way.
    kind: Box<Kind>,
    /// Answer 403 (with this message) whatever the kind.
    forbidden_message: Option<&'static str>,
}

impl Denial {
    fn new(caller: &Caller, kind: Kind) -> Self {
        Self {
            organization_id: caller.organization_id,
            actor: caller.actor(),
            kind: Box::new(kind),
            forbidden_message: None,
        }
    }

    /// The caller's role may not do `operation`.
    #[must_use]
    pub fn forbidden(caller: &Caller, operation: &'static str) -> Self {
        Self::new(
            caller,
            Kind::Forbidden {
                operation,
                entity: None,
                patient: None,
                message: None,
                reason: None,
            },
        )
    }

    /// The caller's role may not do `operation` to `entity` `id` (of `patient`, if any).
    #[must_use]
    pub fn forbidden_on(
        caller: &Caller,
        operation: &'static str,
        entity: &'static str,
        id: impl ToString,
        patient: Option<PatientId>,
    ) -> Self {
        Self::new(
            caller,
            Kind::Forbidden {
                operation,
                entity: Some((entity, id.to_string())),
                patient,
                message: None,
                reason: None,
            },
        )
    }

    /// Replaces the generic 403 message with a more specific, client-safe one.
    #[must_use]
    pub fn with_message(mut self, text: &'static str) -> Self {
        if let Kind::Forbidden { message, .. } = self.kind.as_mut() {
            *message = Some(text);
        }
        self
    }

    /// Answers 403 with `text` even where the kind would answer 404: the caller named the
    /// other organization openly (a header), so there is no existence to hide.
    #[must_use]
    pub fn answered_forbidden(mut self, text: &'static str) -> Self {
        self.forbidden_message = Some(text);
        self
    }

    /// Names why the role's permission does not reach this case (`own_grant`), for the trail.
    #[must_use]
    pub fn with_reason(mut self, why: &'static str) -> Self {
        if let Kind::Forbidden { reason, .. } = self.kind.as_mut() {
            *reason = Some(why);
        }
        self
    }

    /// `entity` `id` (of `patient`) is in the caller's organization, but not for them: a
    /// CLINICIAN's patient off their care team, say.
    #[must_use]
    pub fn hidden(
        caller: &Caller,
        entity: &'static str,
        id: impl ToString,
        patient: Option<PatientId>,
    ) -> Self {
        Self::new(
            caller,
            Kind::Hidden {
                entity,
                id: id.to_string(),
                patient,
                reason: "not_on_care_team",
            },
        )
    }

    /// As [`Denial::hidden`], for another `reason` (a psychotherapy note: `psychotherapy_note`).
    #[must_use]
    pub fn hidden_because(
        caller: &Caller,
        entity: &'static str,
        id: impl ToString,
        patient: Option<PatientId>,
        reason: &'static str,
    ) -> Self {
        Self::new(
            caller,
            Kind::Hidden {
                entity,
                id: id.to_string(),
                patient,
                reason,
            },
        )
    }

    /// `entity` `id` is not in the caller's organization; `owner` is where it is, if anywhere.
    #[must_use]
    pub fn not_found(
        caller: &Caller,
        entity: &'static str,
        id: impl ToString,
        owner: Option<OrganizationId>,
    ) -> Self {
        let kind = match owner.filter(|o| *o != caller.organization_id) {
            Some(owner) => Kind::CrossTenant {
                entity,
                id: id.to_string(),
                owner,
            },
            None => Kind::Missing,
        };
        Self::new(caller, kind)
    }

    /// `entity` `id` is refused because it belongs to another organization, `target`
    /// (whether or not it exists there).
    #[must_use]
    pub fn cross_tenant(
        caller: &Caller,
        entity: &'static str,
        id: impl ToString,
        target: OrganizationId,
    ) -> Self {
        Self::new(
            caller,
            Kind::CrossTenant {
                entity,
                id: id.to_string(),
                owner: target,
            },
        )
    }

    /// An attempt to give `requested` (to user `user`, when one is named) that the caller's
    /// role does not allow, or to change their own role; `message` tells them which.
    #[must_use]
    pub fn escalation(
        caller: &Caller,
        user: Option<UserId>,
        requested: Role,
        message: &'static str,
    ) -> Self {
        Self::new(
            caller,
            Kind::Escalation {
                user: user.map(|u| u.to_string()),
                requested,
                message,
            },
        )
    }

    /// Whether the answer is 403 (else it is 404).
    #[must_use]
    pub fn is_forbidden(&self) -> bool {
        self.forbidden_message.is_some()
            || matches!(*self.kind, Kind::Forbidden { .. } | Kind::Escalation { .. })
    }

    /// Whether this is an attempt on another organization's data.
    #[must_use]
    pub fn is_cross_tenant(&self) -> bool {
        matches!(*self.kind, Kind::CrossTenant { .. })
    }

    /// The specific 403 message, if any.
    #[must_use]
    pub fn message(&self) -> Option<&'static str> {
        if self.forbidden_message.is_some() {
            return self.forbidden_message;
        }
        match *self.kind {
            Kind::Forbidden { message, .. } => message,
            Kind::Escalation { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The organization whose trail records the refusal: the caller's.
    #[must_use]
    pub fn organization_id(&self) -> OrganizationId {
        self.organization_id
    }

    /// The audit event of the refusal (without its request), or `None` when there is nothing
    /// to record (an id that exists nowhere).
    #[must_use]
    pub fn audit_event(&self) -> Option<AuditEvent> {
        let denied = |action| {
            AuditEvent::new(action)
                .with_outcome(Outcome::Denied)
                .by(self.actor)
        };
        Some(match self.kind.as_ref() {
            Kind::Forbidden {
                operation,
                entity,
                patient,
                reason,
                ..
            } => {
                let details = match reason {
                    Some(reason) => json!({ "operation": operation, "reason": reason }),
                    None => json!({ "operation": operation }),
                };
                let mut event = denied(AuditAction::AccessDenied).with_details(details);
                if let Some((kind, id)) = entity {
                    event = event.with_entity(kind, id);
                }
                if let Some(patient) = patient {
                    event = event.with_patient(*patient);
                }
                event
            }
            Kind::Hidden {
                entity,
                id,
                patient,
                reason,
            } => {
                let mut event = denied(AuditAction::AccessDenied)
                    .with_entity(entity, id)
                    .with_details(json!({ "reason": reason }));
                if let Some(patient) = patient {
                    event = event.with_patient(*patient);
                }
                event
            }
            Kind::CrossTenant { entity, id, owner } => {
                denied(AuditAction::CrossTenantAccessAttempt)
                    .with_entity(entity, id)
                    .with_details(json!({
                        "callerOrganizationId": self.organization_id,
                        "targetOrganizationId": owner,
                    }))
            }
            Kind::Escalation {
                user, requested, ..
            } => {
                let mut event = denied(AuditAction::RoleEscalationAttempt)
                    .with_details(json!({ "requestedRole": requested }));
                if let Some(user) = user {
                    event = event.with_entity("user", user);
                }
                event
            }
            Kind::Missing => return None,
        })
    }
}

/// A check that could not be answered (the database failed), or a refusal.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The caller is refused.
    #[error("access refused")]
    Denied(Box<Denial>),
    /// The check's query failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<Denial> for PolicyError {
    fn from(denial: Denial) -> Self {
        Self::Denied(Box::new(denial))
    }
}
