//! Refusals, recorded: a role that may not do something gets 403 `FORBIDDEN`; a resource of
//! another organization (or one the caller may not see) gets 404 `NOT_FOUND`, so its existence
//! does not leak. Both are audited in the caller's organization.

use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, Outcome, RequestMeta};
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::http::error::{AppError, ErrorCode};
use crate::ids::OrganizationId;

/// Refuses unless the caller's role is one of `allowed`.
pub async fn require_role(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    allowed: &[Role],
    operation: &'static str,
) -> Result<(), AppError> {
    if allowed.contains(&caller.role) {
        return Ok(());
    }
    let event = AuditEvent::new(AuditAction::AccessDenied)
        .with_outcome(Outcome::Denied)
        .with_actor(caller.user_id, caller.role)
        .with_details(json!({ "operation": operation }))
        .with_request(meta);
    audit::record_alone(state.db(), caller.organization_id, &event).await?;
    Err(AppError::new(
        ErrorCode::Forbidden,
        ErrorCode::Forbidden.default_message(),
    ))
}

/// A 404 for `entity_type` `id`; when it exists in another organization (`owner`), the attempt
/// is audited as `CROSS_TENANT_ACCESS_ATTEMPT` naming both organizations.
pub async fn not_found(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    entity_type: &'static str,
    id: impl ToString,
    owner: Option<OrganizationId>,
) -> AppError {
    let Some(owner) = owner.filter(|o| *o != caller.organization_id) else {
        return AppError::not_found();
    };
    let event = AuditEvent::new(AuditAction::CrossTenantAccessAttempt)
        .with_outcome(Outcome::Denied)
        .with_actor(caller.user_id, caller.role)
        .with_entity(entity_type, id)
        .with_details(json!({
            "callerOrganizationId": caller.organization_id,
            "targetOrganizationId": owner,
        }))
        .with_request(meta);
    if let Err(error) = audit::record_alone(state.db(), caller.organization_id, &event).await {
        return error.into();
    }
    tracing::warn!(entity_type, "cross-tenant access attempt");
    AppError::not_found()
}
