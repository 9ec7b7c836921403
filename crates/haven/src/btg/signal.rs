//! The security signal of a break-the-glass event: one JSON line on stdout (for log-based
//! alarms) and, when configured, a webhook POST. (Its count in `haven_btg_events_total` comes
//! from the audit row every such event has: see `telemetry::metrics`.)
//!
//! The line has exactly SPEC §5's fields, in its order:
//!
//! ```json
//! {"timestamp":"2026-11-22T10:00:00.000Z","level":"SECURITY","severity":"CRITICAL","action":"BTG_GRANT_ACCESS","grantId":"…","organizationId":"…","userId":"…","patientId":"…","justification":"…"}
//! ```
//!
//! `userId` is the grant's holder (the user the emergency access is for) in every line, so one
//! filter on it follows a person's emergency access from grant through use to revocation; who
//! granted or revoked it is in the audit log. `justification` is the grant's, written by the
//! granting admin. Nothing else is in the line: ids, never a patient's name or any other PHI.
//!
//! Logs (`tracing`) go to stderr; stdout carries only these lines (and the one-time bootstrap
//! password at first start), so a collector can take stdout as the security stream.

use std::io::Write;
use std::sync::OnceLock;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::webhook::{Webhook, WebhookUrl};
use crate::audit::AuditAction;
use crate::ids::{OrganizationId, UserId};
use crate::store::btg::GrantRow;

/// How loud an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// A grant: someone just gained emergency access.
    Critical,
    /// A use of a grant.
    High,
    /// A revocation.
    Medium,
}

/// One security line.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityEvent {
    timestamp: String,
    level: &'static str,
    severity: Severity,
    action: &'static str,
    grant_id: Uuid,
    organization_id: OrganizationId,
    user_id: UserId,
    patient_id: Uuid,
    justification: String,
}

impl SecurityEvent {
    /// The `action` event of `grant` in `organization`, happening now.
    #[must_use]
    pub fn new(
        action: AuditAction,
        severity: Severity,
        organization: OrganizationId,
        grant: &GrantRow,
    ) -> Self {
        Self::at(Utc::now(), action, severity, organization, grant)
    }

    /// The same, at `at`.
    #[must_use]
    pub fn at(
        at: DateTime<Utc>,
        action: AuditAction,
        severity: Severity,
        organization: OrganizationId,
        grant: &GrantRow,
    ) -> Self {
        Self {
            timestamp: at.to_rfc3339_opts(SecondsFormat::Millis, true),
            level: "SECURITY",
            severity,
            action: action.as_str(),
            grant_id: grant.id.as_uuid(),
            organization_id: organization,
            user_id: grant.granted_to_user_id,
            patient_id: grant.patient_id.as_uuid(),
            justification: grant.justification.clone(),
        }
    }

    /// The line, without its newline.
    #[must_use]
    pub fn to_line(&self) -> String {
        // A struct of strings and ids always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Where signals go: stdout always, the webhook when one is attached (the counter is fed by
/// the audit writer, not here).
#[derive(Debug, Default)]
pub struct SecuritySignals {
    webhook: OnceLock<Webhook>,
}

impl SecuritySignals {
    /// Signals to stdout only.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts delivering every later signal to `url` as well (`HAVEN_SECURITY_WEBHOOK_URL`).
    /// Must run inside the Tokio runtime; a second call is refused.
    pub fn attach_webhook(&self, url: WebhookUrl) -> anyhow::Result<()> {
        if self.webhook.get().is_some() {
            anyhow::bail!("a security webhook is already attached");
        }
        self.webhook
            .set(Webhook::start(url)?)
            .map_err(|_| anyhow::anyhow!("a security webhook is already attached"))
    }

    /// The attached webhook, if any.
    #[must_use]
    pub fn webhook(&self) -> Option<&Webhook> {
        self.webhook.get()
    }

    /// Writes the line, counts the event and queues it for the webhook. Never fails and never
    /// waits on the webhook; a stdout that cannot be written is logged.
    pub fn emit(&self, event: &SecurityEvent) {
        self.emit_line(event.to_line(), event.action);
    }

    /// Writes one already serialized security `line` (a JSON object of ids and counts, no
    /// newline) to stdout and queues it for the webhook, as [`SecuritySignals::emit`] does;
    /// `action` names it in the log should stdout fail. Security incidents use it.
    pub fn emit_line(&self, mut line: String, action: &str) {
        if let Some(webhook) = self.webhook.get() {
            webhook.enqueue(line.clone());
        }
        line.push('\n');
        // One write of the whole line under the lock: lines from concurrent requests never
        // interleave.
        let mut out = std::io::stdout().lock();
        if let Err(error) = out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
            tracing::error!(error = %crate::telemetry::loggable(&error), action, "cannot write the security line to stdout");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> GrantRow {
        GrantRow {
            id: crate::ids::GrantId::from_uuid(Uuid::nil()),
            granted_by_user_id: UserId::from_uuid(Uuid::max()),
            granted_to_user_id: UserId::from_uuid(Uuid::from_u128(7)),
            patient_id: crate::ids::PatientId::from_uuid(Uuid::from_u128(9)),
            justification: "Patient unconscious in the ER; care team unreachable \"now\"".into(),
            duration_minutes: 60,
            created_at: Utc::now(),
            expires_at: Utc::now(),
            revoked_at: None,
            revoked_reason: None,
            reviewed_at: None,
            reviewed_by_user_id: None,
            review_outcome: None,
            expired: false,
        }
    }

    #[test]
    fn the_line_has_exactly_the_spec_fields_in_order() {
        let at = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        let event = SecurityEvent::at(
            at,
            AuditAction::BtgGrantAccess,
            Severity::Critical,
            OrganizationId::from_uuid(Uuid::from_u128(3)),
            &grant(),
        );

        let line = event.to_line();

        assert_eq!(
            line,
            "{\"timestamp\":\"2026-11-22T10:00:00.000Z\",\"level\":\"SECURITY\",\"severity\":\"CRITICAL\",\
             \"action\":\"BTG_GRANT_ACCESS\",\"grantId\":\"00000000-0000-0000-0000-000000000000\",\
             \"organizationId\":\"00000000-0000-0000-0000-000000000003\",\
             \"userId\":\"00000000-0000-0000-0000-000000000007\",\
             \"patientId\":\"00000000-0000-0000-0000-000000000009\",\
             \"justification\":\"Patient unconscious in the ER; care team unreachable \\\"now\\\"\"}"
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn severities_are_upper_case() {
        for (severity, name) in [
            (Severity::Critical, "\"CRITICAL\""),
            (Severity::High, "\"HIGH\""),
            (Severity::Medium, "\"MEDIUM\""),
        ] {
            assert_eq!(serde_json::to_string(&severity).expect("json"), name);
        }
    }
}
