//! The breach detector: every [`INTERVAL`], one instance at a time (a transaction-level
//! advisory lock held for the pass; the others skip the round), reads each organization's
//! sealed audit rows after its cursor and evaluates every enabled rule over them.
//!
//! Per organization and batch of at most [`BATCH`] rows, one tenant transaction:
//! lock the cursor row → read the chain head → one statement per rule kind (set-based over the
//! subjects of the batch; see `crate::store::incidents::findings`) → one upsert of every
//! finding (a partial unique index de-duplicates: one open incident per rule and subject) →
//! one insert of their history entries → their audit events → the cursor moves to the end of
//! the batch → COMMIT. A crash anywhere before COMMIT leaves cursor and incidents as they were,
//! so the batch is read again, whole, by the next pass: no row skipped, none counted twice.
//! The stdout line, the webhook and `haven_security_incidents_total` follow the COMMIT (a crash
//! right after it loses the signal of that batch, never the incident).
//!
//! Password spraying across practices (one address failing on accounts of several practices,
//! each below its own thresholds) cannot be seen from one chain: once per pass, in a platform
//! transaction, [`evaluate_spraying`] reads every practice's new login failures through one
//! SECURITY DEFINER function that moves its own cursors in that transaction, and writes the
//! platform incidents (the SUPER_ADMIN's) before the same COMMIT.
//!
//! Requests never wait on the detector: it only reads `audit_log`, which requests never touch
//! (they write the outbox; the sealer moves rows), and writes its own tables.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::json;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::rules::{AutoAction, RuleConfig};
use super::{RuleKind, Severity};
use crate::app::AppState;
use crate::audit::{self, AccessMethod, AuditAction, AuditEvent};
use crate::btg::SecuritySignals;
use crate::db::{AppPool, TenantTx};
use crate::ids::{OrganizationId, UserId};
use crate::store::incidents::{self, NewEvent, NewFinding, Upserted};
use crate::store::{sessions, users};
use crate::telemetry::metrics;

/// How often the job runs.
pub const INTERVAL: Duration = Duration::from_secs(30);
/// Sealed rows read per organization transaction.
pub const BATCH: i64 = 5_000;
/// Sequence numbers of each practice's chain the spraying check reads per pass.
pub const SPRAY_BATCH: i64 = 50_000;
/// Organizations handled per pass; the rest wait for the next one.
const ORGANIZATIONS_PER_PASS: i32 = 500;
/// Batches per organization per pass: a long backlog does not starve the others.
const BATCHES_PER_ORGANIZATION: usize = 20;
/// How long one pass may work before leaving the rest to the next.
const PASS_BUDGET: Duration = Duration::from_secs(20);
/// The advisory lock of one pass (hashed by PostgreSQL).
const LOCK: &str = "haven.breach_detector";

/// What one batch found.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// The rows read: `(after, upto]`; empty when there was nothing new.
    pub range: (i64, i64),
    /// The incidents opened or bumped.
    pub incidents: Vec<Upserted>,
    /// Whether sealed rows remain past the batch.
    pub more: bool,
    /// Whether an automatic action ended tokens (the revocation set should be re-read).
    pub revoked: bool,
}

/// One batch of the transaction's organization, written in `tx` but not committed: the caller
/// commits (or, to simulate a crash, drops the transaction).
pub async fn evaluate(tx: &mut TenantTx, batch: i64) -> Result<BatchOutcome, sqlx::Error> {
    let after = incidents::lock_cursor(tx).await?;
    let head = incidents::chain_head(tx).await?;
    let upto = head.min(after.saturating_add(batch.max(1)));
    if upto <= after {
        return Ok(BatchOutcome {
            range: (after, after),
            ..BatchOutcome::default()
        });
    }
    let rules = incidents::rules(tx).await?;
    let mut merged: BTreeMap<(RuleKind, Option<Uuid>, Option<String>), NewFinding> =
        BTreeMap::new();
    for rule in rules.iter().filter(|r| r.enabled) {
        for finding in incidents::findings(tx, rule, after, upto).await? {
            let severity = finding
                .tier
                .as_deref()
                .and_then(Severity::parse)
                .unwrap_or(rule.severity);
            let key = (
                rule.kind,
                finding.subject_user_id,
                finding.subject_ip.clone(),
            );
            match merged.get_mut(&key) {
                None => {
                    merged.insert(
                        key,
                        NewFinding {
                            kind: rule.kind,
                            severity,
                            finding,
                        },
                    );
                }
                Some(existing) => merge(existing, severity, finding),
            }
        }
    }
    let new: Vec<NewFinding> = merged.into_values().collect();
    let (upserted, revoked) = record(tx, &rules, &new, Some((after, upto))).await?;
    incidents::advance_cursor(tx, upto).await?;
    Ok(BatchOutcome {
        range: (after, upto),
        incidents: upserted,
        more: upto < head,
        revoked,
    })
}

/// Password spraying across practices (the platform's `FAILED_LOGIN_BURST` rule): reads every
/// practice's login failures sealed since the last call (at most `batch` per practice) and
/// writes the platform incidents they lead to, in `tx`, a transaction of the platform
/// organization, which the caller commits: the scan's cursors move with the incidents, or
/// neither does. Nothing happens while the platform's rule is disabled, and its cursors stay
/// where they are.
pub async fn evaluate_spraying(tx: &mut TenantTx, batch: i64) -> Result<BatchOutcome, sqlx::Error> {
    let rules = incidents::rules(tx).await?;
    let Some(rule) = rules
        .iter()
        .find(|r| r.kind == RuleKind::FailedLoginBurst && r.enabled)
    else {
        return Ok(BatchOutcome::default());
    };
    let new: Vec<NewFinding> = incidents::spray_findings(tx, rule, batch)
        .await?
        .into_iter()
        .map(|finding| NewFinding {
            kind: rule.kind,
            severity: rule.severity,
            finding,
        })
        .collect();
    let (upserted, revoked) = record(tx, &rules, &new, None).await?;
    Ok(BatchOutcome {
        incidents: upserted,
        revoked,
        ..BatchOutcome::default()
    })
}

/// Writes `new` findings (opening or bumping incidents), their history entries, their audit
/// events and the automatic actions of CRITICAL ones, in `tx`. `range` is the sequence range of
/// the transaction's chain the findings rest on, when they rest on one. Returns the incidents and
/// whether an automatic action ended tokens.
async fn record(
    tx: &mut TenantTx,
    rules: &[RuleConfig],
    new: &[NewFinding],
    range: Option<(i64, i64)>,
) -> Result<(Vec<Upserted>, bool), sqlx::Error> {
    let upserted = incidents::upsert(tx, new).await?;

    let mut events = Vec::with_capacity(upserted.len());
    let mut audits = Vec::with_capacity(upserted.len());
    let mut revoked = false;
    for incident in &upserted {
        let mut details = json!({
            "ruleKind": incident.rule_kind,
            "severity": incident.severity,
            "eventCount": incident.event_count,
            "affectedPatientCount": incident.affected_patient_count,
        });
        if let Some((after, upto)) = range {
            details["sequenceRange"] = json!([after + 1, upto]);
        }
        events.push(NewEvent {
            incident: incident.id,
            kind: if incident.inserted {
                "DETECTED"
            } else {
                "UPDATED"
            },
            actor: None,
            from_status: None,
            to_status: None,
            details: details.clone(),
        });
        audits.push(
            AuditEvent::new(if incident.inserted {
                AuditAction::SecurityIncidentOpened
            } else {
                AuditAction::SecurityIncidentUpdated
            })
            .with_access_method(AccessMethod::System)
            .with_entity("security_incident", incident.id)
            .with_details(details),
        );
        let auto = rules
            .iter()
            .find(|r| r.kind.as_str() == incident.rule_kind)
            .and_then(|r| r.auto_action);
        if let (true, Some(AutoAction::RevokeSessions), Some(user)) = (
            incident.inserted && incident.severity == Severity::Critical.as_str(),
            auto,
            incident.subject_user_id,
        ) {
            let families = revoke_sessions(tx, user).await?;
            revoked = true;
            let details =
                json!({ "action": "REVOKE_SESSIONS", "userId": user, "sessionsRevoked": families });
            events.push(NewEvent {
                incident: incident.id,
                kind: "AUTO_ACTION",
                actor: None,
                from_status: None,
                to_status: None,
                details: details.clone(),
            });
            audits.push(
                AuditEvent::new(AuditAction::IncidentContainmentAction)
                    .with_access_method(AccessMethod::System)
                    .with_entity("security_incident", incident.id)
                    .with_details(details),
            );
        }
    }
    incidents::append_events(tx, &events).await?;
    audit::record_many(tx, &audits).await?;
    Ok((upserted, revoked))
}

/// Ends every session and access token of `user` (REVOKE_SESSIONS): the refresh families are
/// revoked and the tokens issued so far refused on every instance within the revocation window.
/// Returns the families revoked.
pub async fn revoke_sessions(tx: &mut TenantTx, user: UserId) -> Result<u64, sqlx::Error> {
    let families =
        sessions::revoke_user_families(tx, user, None, sessions::RevokeReason::SecurityIncident)
            .await?;
    users::end_access_tokens(tx, user).await?;
    Ok(families)
}

fn merge(existing: &mut NewFinding, severity: Severity, finding: incidents::Finding) {
    let current = &mut existing.finding;
    current.event_count += finding.event_count;
    current.first_seen = current.first_seen.min(finding.first_seen);
    current.last_seen = current.last_seen.max(finding.last_seen);
    current.affected_patients = current.affected_patients.max(finding.affected_patients);
    let first = current.first_sequence.min(finding.first_sequence);
    let last = current.last_sequence.max(finding.last_sequence);
    if severity > existing.severity {
        existing.severity = severity;
        current.evidence = finding.evidence;
    }
    current.first_sequence = first;
    current.last_sequence = last;
    if let Some(map) = current.evidence.as_object_mut() {
        map.insert("firstSequence".into(), first.into());
        map.insert("lastSequence".into(), last.into());
    }
}

/// Reads one organization's backlog (up to [`BATCHES_PER_ORGANIZATION`] batches), committing
/// each batch, then signals the incidents it opened. Returns the incidents opened or bumped.
pub async fn detect_organization(
    pool: &AppPool,
    signals: &SecuritySignals,
    organization: OrganizationId,
) -> Result<(Vec<Upserted>, bool), sqlx::Error> {
    let mut all = Vec::new();
    let mut revoked = false;
    for _ in 0..BATCHES_PER_ORGANIZATION {
        let mut tx = pool.begin_tenant(organization, None).await?;
        let outcome = evaluate(&mut tx, BATCH).await?;
        tx.commit().await?;
        for incident in outcome.incidents.iter().filter(|i| i.inserted) {
            signal(signals, organization, incident);
        }
        revoked |= outcome.revoked;
        all.extend(outcome.incidents);
        if !outcome.more {
            break;
        }
    }
    Ok((all, revoked))
}

fn signal(signals: &SecuritySignals, organization: OrganizationId, incident: &Upserted) {
    let kind = RuleKind::parse(&incident.rule_kind).unwrap_or(RuleKind::PrivilegeEscalation);
    let severity = Severity::parse(&incident.severity).unwrap_or(Severity::High);
    metrics::security_incident(kind.as_str(), severity.as_str());
    let line = json!({
        "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "level": "SECURITY",
        "severity": severity.as_str(),
        "action": AuditAction::SecurityIncidentOpened.as_str(),
        "incidentId": incident.id,
        "organizationId": organization,
        "ruleKind": kind.as_str(),
        "userId": incident.subject_user_id,
        "ip": incident.subject_ip,
        "eventCount": incident.event_count,
        "affectedPatientCount": incident.affected_patient_count,
    });
    signals.emit_line(
        line.to_string(),
        AuditAction::SecurityIncidentOpened.as_str(),
    );
}

/// One cross-practice spraying check ([`evaluate_spraying`]) in its own platform transaction,
/// then the signals of the incidents it opened.
async fn detect_spraying(
    pool: &AppPool,
    signals: &SecuritySignals,
) -> Result<(Vec<Upserted>, bool), sqlx::Error> {
    let mut tx = pool.begin_tenant(OrganizationId::PLATFORM, None).await?;
    let outcome = evaluate_spraying(&mut tx, SPRAY_BATCH).await?;
    tx.commit().await?;
    for incident in outcome.incidents.iter().filter(|i| i.inserted) {
        signal(signals, OrganizationId::PLATFORM, incident);
    }
    Ok((outcome.incidents, outcome.revoked))
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct PassReport {
    /// Whether this instance held the lock (else it skipped the round).
    pub ran: bool,
    /// Incidents opened or bumped.
    pub incidents: Vec<(OrganizationId, Upserted)>,
}

/// One pass over every organization behind its chain head, then the lag metric. Skipped (not
/// `ran`) while another instance holds the pass.
pub async fn run_once(state: &AppState) -> Result<PassReport, sqlx::Error> {
    let pool = state.db();
    let mut lock = pool.platform().begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext($1))")
        .bind(LOCK)
        .fetch_one(&mut *lock)
        .await?;
    if !locked {
        return Ok(PassReport::default());
    }
    let mut report = PassReport {
        ran: true,
        incidents: Vec::new(),
    };
    let mut revoked = false;
    let started = std::time::Instant::now();
    for (organization, _, _) in
        incidents::backlog(pool.platform().pool(), ORGANIZATIONS_PER_PASS).await?
    {
        // The pass's lock transaction sits idle meanwhile: stay well inside the pool's
        // idle-in-transaction timeout; the rest waits for the next pass.
        if started.elapsed() > PASS_BUDGET {
            break;
        }
        let organization = OrganizationId::from_uuid(organization);
        let (found, ended) =
            detect_organization(pool, state.security_signals(), organization).await?;
        revoked |= ended;
        report
            .incidents
            .extend(found.into_iter().map(|i| (organization, i)));
    }
    let (found, ended) = detect_spraying(pool, state.security_signals()).await?;
    revoked |= ended;
    report
        .incidents
        .extend(found.into_iter().map(|i| (OrganizationId::PLATFORM, i)));
    lock.commit().await?;
    if revoked && let Err(error) = state.revocations().refresh_now().await {
        tracing::warn!(error = %crate::telemetry::loggable(&error), "re-reading the revoked sessions failed; the next read catches up");
    }
    let lag = incidents::oldest_unread(pool.platform().pool())
        .await?
        .map_or(0.0, |oldest| {
            (Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1000.0
        });
    metrics::breach_detector_lag(lag);
    Ok(report)
}

/// Runs [`run_once`] every `period` until aborted.
pub fn spawn(state: AppState, period: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match run_once(&state).await {
                Ok(report) if !report.incidents.is_empty() => {
                    tracing::info!(
                        incidents = report.incidents.len(),
                        "breach detector opened or updated security incidents"
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %crate::telemetry::loggable(&error), "breach detection failed; will retry")
                }
            }
        }
    })
}
