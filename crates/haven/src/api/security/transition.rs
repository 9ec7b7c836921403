//! `POST /api/security/incidents/{id}/transition` (practice: COMPLIANCE; platform: SUPER_ADMIN).

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{IncidentResponse, parse_status};
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
use crate::store::incidents::{self, NewEvent};

/// The longest note, in characters.
const MAX_NOTE: usize = 2000;

/// `{to, note}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    /// The next status: `OPEN → INVESTIGATING → CONTAINED → CLOSED_FALSE_POSITIVE |
    /// CLOSED_NOT_A_BREACH | CONFIRMED_BREACH → NOTIFIED → CLOSED`.
    #[schema(example = "INVESTIGATING")]
    to: String,
    /// Why (kept in the incident's history, not in the audit log), up to 2,000 characters.
    #[schema(max_length = 2000)]
    note: Option<String>,
}

/// Move a security incident through the workflow
///
/// Only the next statuses of the workflow are accepted; any other is 409 `INVALID_STATE` and
/// changes nothing. Moving to INVESTIGATING assigns the incident to the caller when unassigned.
/// Audited `SECURITY_INCIDENT_TRANSITION`; the history gets a TRANSITION entry.
#[utoipa::path(
    post,
    path = "/incidents/{id}/transition",
    tag = "security",
    params(("id" = Uuid, Path, description = "The incident's id")),
    request_body = TransitionBody,
    responses(
        (status = 200, description = "The incident after the transition", body = IncidentResponse),
        (status = 400, description = "An unknown status or a note too long (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not allowed (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such incident here (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Not a next status (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn transition_incident(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<IncidentId>,
    AppJson(body): AppJson<TransitionBody>,
) -> Result<AppJson<IncidentResponse>, AppError> {
    let (read, may) = policy::work(&caller, "transition_security_incident")?;
    let to = parse_status("to", &body.to)?;
    let note = body
        .note
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(AppError::invalid_field(
            "note",
            "must be at most 2000 characters",
        ));
    }
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let row = find(&mut tx, &caller, &read, id, true).await?;
    let from = IncidentStatus::parse(&row.status).unwrap_or(IncidentStatus::Closed);
    if !from.may_become(to) {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            format!(
                "Cannot move an incident from {} to {}",
                from.as_str(),
                to.as_str()
            ),
        ));
    }
    let row = incidents::set_status(&mut tx, &may, id, to.as_str(), caller.user_id).await?;
    incidents::append_events(
        &mut tx,
        &[NewEvent {
            incident: id,
            kind: "TRANSITION",
            actor: Some(caller.user_id),
            from_status: Some(from.as_str()),
            to_status: Some(to.as_str()),
            details: json!({ "note": note }),
        }],
    )
    .await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::SecurityIncidentTransition)
            .by(caller.actor())
            .with_access_method(method_of(&caller))
            .with_entity("security_incident", id)
            .with_details(json!({ "from": from.as_str(), "to": to.as_str() }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(IncidentResponse {
        incident: row.into(),
    }))
}
