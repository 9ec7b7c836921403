//! `GET /api/security/detection-rules` and `PUT /api/security/detection-rules/{kind}`
//! (practice: ADMIN, COMPLIANCE; platform: SUPER_ADMIN).

use std::collections::BTreeMap;

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{DetectionRuleResponse, DetectionRulesResponse};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::policy::method_of;
use crate::policy::security as policy;
use crate::security::rules::{AutoAction, RuleConfig, complete_thresholds};
use crate::security::{RuleKind, Severity};
use crate::store::incidents;

/// List the detection rules
///
/// Every rule kind as the organization runs it: its own configuration, or the SPEC's defaults.
#[utoipa::path(
    get,
    path = "/detection-rules",
    tag = "security",
    responses(
        (status = 200, description = "The five rules", body = DetectionRulesResponse),
        (status = 403, description = "Not allowed (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn list_detection_rules(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<AppJson<DetectionRulesResponse>, AppError> {
    policy::read(&caller, "list_detection_rules")?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let rules = incidents::rules(&mut tx).await?;
    tx.commit().await?;
    Ok(AppJson(DetectionRulesResponse {
        rules: rules.into_iter().map(Into::into).collect(),
    }))
}

/// `{enabled, thresholds, severity, autoAction}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleBody {
    /// Whether the detector evaluates the rule.
    enabled: bool,
    /// Named thresholds of the kind, each 1–100,000; the names left out keep their defaults.
    #[serde(default)]
    thresholds: BTreeMap<String, i64>,
    /// The severity of the rule's main trigger.
    severity: Severity,
    /// `REVOKE_SESSIONS` or `null` (never a lock-out).
    #[serde(default)]
    auto_action: Option<AutoAction>,
}

/// Configure a detection rule
///
/// Replaces the organization's configuration of rule `kind`. Audited
/// `DETECTION_RULE_UPDATE` with the new configuration.
#[utoipa::path(
    put,
    path = "/detection-rules/{kind}",
    tag = "security",
    params(("kind" = String, Path, description = "The rule kind (`EXCESSIVE_PHI_ACCESS`, …)")),
    request_body = RuleBody,
    responses(
        (status = 200, description = "The rule after the change", body = DetectionRuleResponse),
        (status = 400, description = "An unknown kind or threshold, a threshold out of range (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not allowed (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn update_detection_rule(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(kind): AppPath<String>,
    AppJson(body): AppJson<RuleBody>,
) -> Result<AppJson<DetectionRuleResponse>, AppError> {
    let may = policy::configure(&caller, "update_detection_rule")?;
    let kind = RuleKind::parse(&kind)
        .ok_or_else(|| AppError::invalid_field("kind", "is not a rule kind"))?;
    let thresholds = complete_thresholds(kind, &body.thresholds)
        .map_err(|e| AppError::invalid_field(&e.field, e.reason))?;
    let rule = RuleConfig {
        kind,
        enabled: body.enabled,
        thresholds,
        severity: body.severity,
        auto_action: body.auto_action,
    };
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    incidents::put_rule(&mut tx, &may, &rule, caller.user_id).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::DetectionRuleUpdate)
            .by(caller.actor())
            .with_access_method(method_of(&caller))
            .with_entity("detection_rule", kind.as_str())
            .with_details(json!({
                "kind": kind.as_str(),
                "enabled": rule.enabled,
                "thresholds": rule.thresholds,
                "severity": rule.severity.as_str(),
                "autoAction": rule.auto_action.map(AutoAction::as_str),
            }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(DetectionRuleResponse { rule: rule.into() }))
}
