//! The wire types of security incidents and detection rules.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::pagination::Pagination;
use crate::ids::{IncidentId, UserId};
use crate::security::rules::{AutoAction, RuleConfig};
use crate::security::{IncidentStatus, MEDIA_NOTICE_PATIENTS, RuleKind, Severity};
use crate::store::incidents::{EventRow, IncidentRow};

/// A security incident (SPEC §8).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    /// Its id.
    id: IncidentId,
    /// The rule that found it.
    #[schema(value_type = String, example = "EXCESSIVE_PHI_ACCESS")]
    rule_kind: String,
    /// How serious: LOW, MEDIUM, HIGH, CRITICAL.
    #[schema(value_type = String, example = "HIGH")]
    severity: String,
    /// The user it is about, or `null` (an address's login failures).
    #[schema(required = true)]
    subject_user_id: Option<UserId>,
    /// The address it is about, or `null` (a user's activity).
    #[schema(required = true)]
    subject_ip: Option<String>,
    /// The first event it rests on.
    first_seen: DateTime<Utc>,
    /// The last event it rests on.
    last_seen: DateTime<Utc>,
    /// How many audit events it rests on.
    event_count: i64,
    /// Sequence ranges, counts and ids: never PHI.
    #[schema(value_type = Object)]
    evidence: Value,
    /// Distinct patients concerned.
    affected_patient_count: i32,
    /// Whether ≥ 500 patients are affected: media and HHS are notified at once (§164.406/408).
    media_notice_required: bool,
    /// Workflow status.
    #[schema(value_type = String, example = "OPEN")]
    status: String,
    /// Who works it, or `null`.
    #[schema(required = true)]
    assignee_id: Option<UserId>,
    /// When the detector found it.
    discovered_at: DateTime<Utc>,
    /// Discovery + 60 days (§164.404).
    notification_deadline: DateTime<Utc>,
    /// The four-factor assessment, or `null`.
    #[schema(required = true, value_type = Option<Object>)]
    risk_assessment: Option<Value>,
    /// BREACH, NOT_A_BREACH or LOW_PROBABILITY_OF_COMPROMISE, or `null`.
    #[schema(required = true)]
    determination: Option<String>,
    /// Bumped by every change.
    version: i32,
}

impl From<IncidentRow> for Incident {
    fn from(row: IncidentRow) -> Self {
        Self {
            id: row.id,
            rule_kind: row.rule_kind,
            severity: row.severity,
            subject_user_id: row.subject_user_id,
            subject_ip: row.subject_ip,
            first_seen: row.first_seen,
            last_seen: row.last_seen,
            event_count: row.event_count,
            evidence: row.evidence,
            media_notice_required: row.affected_patient_count >= MEDIA_NOTICE_PATIENTS,
            affected_patient_count: row.affected_patient_count,
            status: row.status,
            assignee_id: row.assignee_id,
            discovered_at: row.discovered_at,
            notification_deadline: row.notification_deadline,
            risk_assessment: row.risk_assessment,
            determination: row.determination,
            version: row.version,
        }
    }
}

/// One entry of an incident's append-only history.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IncidentEvent {
    /// Its id.
    id: Uuid,
    /// When.
    at: DateTime<Utc>,
    /// DETECTED, UPDATED, TRANSITION, RISK_ASSESSMENT, CONTAINMENT, AUTO_ACTION.
    kind: String,
    /// Who, or `null` for the detector.
    #[schema(required = true)]
    actor_user_id: Option<UserId>,
    /// The status before (transitions), or `null`.
    #[schema(required = true)]
    from_status: Option<String>,
    /// The status after (transitions), or `null`.
    #[schema(required = true)]
    to_status: Option<String>,
    /// Ids, counts and notes.
    #[schema(value_type = Object)]
    details: Value,
}

impl From<EventRow> for IncidentEvent {
    fn from(row: EventRow) -> Self {
        Self {
            id: row.id,
            at: row.at,
            kind: row.kind,
            actor_user_id: row.actor_user_id,
            from_status: row.from_status,
            to_status: row.to_status,
            details: row.details,
        }
    }
}

/// `{"incident": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentResponse {
    /// The incident.
    pub incident: Incident,
}

/// `{"incident": {...}, "events": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDetailResponse {
    /// The incident.
    pub incident: Incident,
    /// Its history, oldest first.
    pub events: Vec<IncidentEvent>,
}

/// `{"incidents": [...], "pagination": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentListResponse {
    /// This page, newest discovery first.
    pub incidents: Vec<Incident>,
    /// Where the page is.
    pub pagination: Pagination,
}

/// One detection rule as the practice runs it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DetectionRule {
    /// The kind.
    kind: RuleKind,
    /// Whether the detector evaluates it.
    enabled: bool,
    /// Every named threshold of the kind.
    thresholds: BTreeMap<String, i64>,
    /// The severity of its main trigger.
    severity: Severity,
    /// What it does by itself on a CRITICAL incident, or `null`.
    #[schema(required = true)]
    auto_action: Option<AutoAction>,
}

impl From<RuleConfig> for DetectionRule {
    fn from(rule: RuleConfig) -> Self {
        Self {
            kind: rule.kind,
            enabled: rule.enabled,
            thresholds: rule.thresholds,
            severity: rule.severity,
            auto_action: rule.auto_action,
        }
    }
}

/// `{"rules": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetectionRulesResponse {
    /// Every kind, in SPEC order.
    pub rules: Vec<DetectionRule>,
}

/// `{"rule": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetectionRuleResponse {
    /// The rule after the change.
    pub rule: DetectionRule,
}

/// The statuses as the filter and transitions name them.
pub(super) fn parse_status(
    field: &str,
    text: &str,
) -> Result<IncidentStatus, crate::http::error::AppError> {
    IncidentStatus::parse(text).ok_or_else(|| {
        crate::http::error::AppError::invalid_field(
            field,
            "must be OPEN, INVESTIGATING, CONTAINED, CLOSED_FALSE_POSITIVE, CLOSED_NOT_A_BREACH, CONFIRMED_BREACH, NOTIFIED or CLOSED",
        )
    })
}
