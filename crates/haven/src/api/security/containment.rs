//! `POST /api/security/incidents/{id}/containment` (practice: ADMIN; platform: SUPER_ADMIN).

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::IncidentResponse;
use super::lookup::find;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::IncidentId;
use crate::policy::method_of;
use crate::policy::security as policy;
use crate::security::IncidentStatus;
use crate::security::detector::revoke_sessions;
use crate::store::incidents::{self, NewEvent};

/// The longest reason, in characters.
const MAX_REASON: usize = 500;

/// `{action, reason}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainmentBody {
    /// `REVOKE_SESSIONS` (every session and access token of the subject user ends, on every
    /// instance within the revocation window) or `DISABLE_USER` (the account is disabled too).
    #[schema(example = "REVOKE_SESSIONS")]
    action: String,
    /// Why, 1–500 characters.
    #[schema(min_length = 1, max_length = 500)]
    reason: Option<String>,
}

/// Contain a security incident
///
/// Acts on the incident's subject user: `REVOKE_SESSIONS` revokes their refresh sessions and
/// ends their access tokens; `DISABLE_USER` also disables the account. An incident about an
/// address only, or one already closed, is 409 `INVALID_STATE`. Audited
/// `INCIDENT_CONTAINMENT_ACTION`; the history gets a CONTAINMENT entry. The status does not
/// change: move it to CONTAINED with a transition.
#[utoipa::path(
    post,
    path = "/incidents/{id}/containment",
    tag = "security",
    params(("id" = Uuid, Path, description = "The incident's id")),
    request_body = ContainmentBody,
    responses(
        (status = 200, description = "The incident (the action was taken)", body = IncidentResponse),
        (status = 400, description = "An unknown action or a missing reason (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not allowed (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such incident here (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "No subject user, or the incident is closed (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn contain_incident(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<IncidentId>,
    AppJson(body): AppJson<ContainmentBody>,
) -> Result<AppJson<IncidentResponse>, AppError> {
    let (read, may) = policy::contain(&caller, "contain_security_incident")?;
    let disable = match body.action.as_str() {
        "REVOKE_SESSIONS" => false,
        "DISABLE_USER" => true,
        _ => {
            return Err(AppError::invalid_field(
                "action",
                "must be REVOKE_SESSIONS or DISABLE_USER",
            ));
        }
    };
    let reason = body
        .reason
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(AppError::invalid_field(
            "reason",
            "must be 1 to 500 characters",
        ));
    }
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let row = find(&mut tx, &caller, &read, id, true).await?;
    let status = IncidentStatus::parse(&row.status).unwrap_or(IncidentStatus::Closed);
    let Some(user) = row.subject_user_id.filter(|_| !status.next().is_empty()) else {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            "The incident has no subject user to contain, or is closed",
        ));
    };
    if user == caller.user_id {
        return Err(AppError::invalid_field(
            "action",
            "cannot contain your own account",
        ));
    }
    if !incidents::user_exists(&mut tx, user).await? {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            "The incident's subject user is not an account of this organization",
        ));
    }
    if disable {
        incidents::disable_user(&mut tx, &may, user).await?;
    }
    let sessions = revoke_sessions(&mut tx, user).await?;
    let action = if disable {
        "DISABLE_USER"
    } else {
        "REVOKE_SESSIONS"
    };
    let details = json!({ "action": action, "userId": user, "sessionsRevoked": sessions });
    incidents::append_events(
        &mut tx,
        &[NewEvent {
            incident: id,
            kind: "CONTAINMENT",
            actor: Some(caller.user_id),
            from_status: None,
            to_status: None,
            details: json!({ "action": action, "userId": user, "sessionsRevoked": sessions, "reason": reason }),
        }],
    )
    .await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::IncidentContainmentAction)
            .by(caller.actor())
            .with_access_method(method_of(&caller))
            .with_entity("security_incident", id)
            .with_details(details)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    crate::api::auth::reread_revocations(&state).await;
    Ok(AppJson(IncidentResponse {
        incident: row.into(),
    }))
}
