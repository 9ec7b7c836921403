//! `PUT /api/security/incidents/{id}/risk-assessment` (practice: COMPLIANCE; platform:
//! SUPER_ADMIN).

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
use crate::store::incidents::{self, NewEvent};

/// The longest factor, in characters.
const MAX_FACTOR: usize = 2000;

/// The determinations an assessment may reach.
const DETERMINATIONS: [&str; 3] = ["BREACH", "NOT_A_BREACH", "LOW_PROBABILITY_OF_COMPROMISE"];

/// The four factors of 45 CFR §164.402(2) and the determination they lead to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RiskAssessmentBody {
    /// (i) The nature and extent of the PHI involved (types of identifiers, likelihood of
    /// re-identification).
    #[schema(min_length = 1, max_length = 2000)]
    nature_and_extent: Option<String>,
    /// (ii) The unauthorized person who used the PHI or to whom it was disclosed.
    #[schema(min_length = 1, max_length = 2000)]
    unauthorized_person: Option<String>,
    /// (iii) Whether the PHI was actually acquired or viewed.
    #[schema(min_length = 1, max_length = 2000)]
    acquired_or_viewed: Option<String>,
    /// (iv) The extent to which the risk to the PHI has been mitigated.
    #[schema(min_length = 1, max_length = 2000)]
    mitigation: Option<String>,
    /// `BREACH`, `NOT_A_BREACH` or `LOW_PROBABILITY_OF_COMPROMISE`.
    #[schema(example = "LOW_PROBABILITY_OF_COMPROMISE")]
    determination: Option<String>,
}

fn factor(field: &'static str, value: Option<&String>) -> Result<String, AppError> {
    let text = value.map(|v| v.trim()).unwrap_or_default();
    if text.is_empty() {
        return Err(AppError::invalid_field(field, "is required"));
    }
    if text.chars().count() > MAX_FACTOR {
        return Err(AppError::invalid_field(
            field,
            "must be at most 2000 characters",
        ));
    }
    Ok(text.to_owned())
}

/// Record a security incident's risk assessment
///
/// All four factors of §164.402(2) and a determination are required; the assessment replaces
/// any earlier one. Refused with 409 `INVALID_STATE` once the incident is closed or notified.
/// Audited `SECURITY_INCIDENT_RISK_ASSESSMENT` (the determination only; the factors' text
/// stays in the incident).
#[utoipa::path(
    put,
    path = "/incidents/{id}/risk-assessment",
    tag = "security",
    params(("id" = Uuid, Path, description = "The incident's id")),
    request_body = RiskAssessmentBody,
    responses(
        (status = 200, description = "The incident with its assessment", body = IncidentResponse),
        (status = 400, description = "A factor missing or too long, an unknown determination (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not allowed (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such incident here (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The incident is closed (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn assess_incident(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<IncidentId>,
    AppJson(body): AppJson<RiskAssessmentBody>,
) -> Result<AppJson<IncidentResponse>, AppError> {
    let (read, may) = policy::work(&caller, "assess_security_incident")?;
    let assessment = json!({
        "natureAndExtent": factor("natureAndExtent", body.nature_and_extent.as_ref())?,
        "unauthorizedPerson": factor("unauthorizedPerson", body.unauthorized_person.as_ref())?,
        "acquiredOrViewed": factor("acquiredOrViewed", body.acquired_or_viewed.as_ref())?,
        "mitigation": factor("mitigation", body.mitigation.as_ref())?,
    });
    let determination = body
        .determination
        .as_deref()
        .and_then(|d| DETERMINATIONS.iter().find(|x| **x == d).copied())
        .ok_or_else(|| {
            AppError::invalid_field(
                "determination",
                "must be BREACH, NOT_A_BREACH or LOW_PROBABILITY_OF_COMPROMISE",
            )
        })?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let row = find(&mut tx, &caller, &read, id, true).await?;
    let status = IncidentStatus::parse(&row.status).unwrap_or(IncidentStatus::Closed);
    if status.next().is_empty() || status == IncidentStatus::Notified {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            format!("Cannot assess an incident that is {}", status.as_str()),
        ));
    }
    let row = incidents::set_risk_assessment(&mut tx, &may, id, &assessment, determination).await?;
    incidents::append_events(
        &mut tx,
        &[NewEvent {
            incident: id,
            kind: "RISK_ASSESSMENT",
            actor: Some(caller.user_id),
            from_status: None,
            to_status: None,
            details: json!({ "determination": determination }),
        }],
    )
    .await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::SecurityIncidentRiskAssessment)
            .by(caller.actor())
            .with_access_method(method_of(&caller))
            .with_entity("security_incident", id)
            .with_details(json!({ "determination": determination }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(IncidentResponse {
        incident: row.into(),
    }))
}
