//! Detection rules, the detector's cursor and findings, and security incidents with their
//! append-only history (migration `20261207000801_breach_detection.sql`).
//!
//! The finding queries are set-based: each reads the organization's sealed rows in one cursor
//! range, groups them by subject (user or address) and looks back over earlier sealed rows of
//! those subjects only, through the `(organization_id, user_id, occurred_at)` and
//! `(organization_id, ip, occurred_at) WHERE action = 'LOGIN_FAILURE'` indexes. One statement per
//! rule kind, however many users the range holds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::db::TenantTx;
use crate::ids::{IncidentId, OrganizationId, UserId};
use crate::policy::security::{ConfigureDetection, ContainIncidents, ReadIncidents, WorkIncidents};
use crate::security::rules::{AutoAction, RuleConfig};
use crate::security::{RuleKind, Severity};

/// A per-patient read of PHI, as the finding queries test audit rows (alias `a`).
const PHI_READ: &str = "a.patient_id IS NOT NULL AND a.action ~ '_READ$' AND a.outcome = 'success'";

/// The organization's rule configurations: stored rows over the SPEC's defaults, every kind.
pub async fn rules(tx: &mut TenantTx) -> Result<Vec<RuleConfig>, sqlx::Error> {
    let org = tx.organization_id();
    let rows: Vec<(String, bool, Value, String, Option<String>)> = sqlx::query_as(
        "SELECT kind, enabled, thresholds, severity, auto_action FROM detection_rules \
         WHERE organization_id = $1",
    )
    .bind(org)
    .fetch_all(tx.conn())
    .await?;
    let mut configs: BTreeMap<RuleKind, RuleConfig> = RuleKind::ALL
        .into_iter()
        .map(|kind| (kind, RuleConfig::default_for(kind)))
        .collect();
    for (kind, enabled, thresholds, severity, auto_action) in rows {
        let Some(kind) = RuleKind::parse(&kind) else {
            continue;
        };
        let config = configs
            .entry(kind)
            .or_insert_with(|| RuleConfig::default_for(kind));
        config.enabled = enabled;
        if let Value::Object(map) = thresholds {
            for (name, value) in map {
                if let Some(value) = value.as_i64() {
                    config.thresholds.insert(name, value);
                }
            }
        }
        if let Some(severity) = Severity::parse(&severity) {
            config.severity = severity;
        }
        config.auto_action = auto_action.as_deref().and_then(AutoAction::parse);
    }
    Ok(configs.into_values().collect())
}

/// The detector's cursor for the transaction's organization, locked until the transaction
/// ends (created at 0 the first time).
pub async fn lock_cursor(tx: &mut TenantTx) -> Result<i64, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "INSERT INTO breach_detector_cursors (organization_id) VALUES ($1) \
         ON CONFLICT (organization_id) DO NOTHING",
    )
    .bind(org)
    .execute(tx.conn())
    .await?;
    sqlx::query_scalar(
        "SELECT last_sequence FROM breach_detector_cursors WHERE organization_id = $1 FOR UPDATE",
    )
    .bind(org)
    .fetch_one(tx.conn())
    .await
}

/// The last sealed sequence of the organization's chain (0 when it has none).
pub async fn chain_head(tx: &mut TenantTx) -> Result<i64, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar(
        "SELECT coalesce((SELECT last_sequence FROM audit_chain_heads WHERE organization_id = $1), 0)",
    )
    .bind(org)
    .fetch_one(tx.conn())
    .await
}

/// Moves the cursor to `to`.
pub async fn advance_cursor(tx: &mut TenantTx, to: i64) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE breach_detector_cursors SET last_sequence = $2, updated_at = now() \
         WHERE organization_id = $1",
    )
    .bind(org)
    .bind(to)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// One finding of one rule for one subject in one cursor range.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Finding {
    /// The user the finding is about, if any.
    pub subject_user_id: Option<Uuid>,
    /// Else the address.
    pub subject_ip: Option<String>,
    /// A severity other than the rule's (the SPEC's tiers), or `None` for the rule's.
    pub tier: Option<String>,
    /// The first and last sequence of the subject's matching rows in the range.
    pub first_sequence: i64,
    /// See `first_sequence`.
    pub last_sequence: i64,
    /// How many of the range's rows the finding rests on.
    pub event_count: i64,
    /// When the first of them happened.
    pub first_seen: DateTime<Utc>,
    /// When the last of them happened.
    pub last_seen: DateTime<Utc>,
    /// Distinct patients concerned (0 when the rule does not count patients).
    pub affected_patients: i64,
    /// Counts, windows and thresholds: never PHI.
    pub evidence: Value,
}

/// The findings of `rule` over the sealed rows `(after, upto]`.
pub async fn findings(
    tx: &mut TenantTx,
    rule: &RuleConfig,
    after: i64,
    upto: i64,
) -> Result<Vec<Finding>, sqlx::Error> {
    let org = tx.organization_id();
    let t = |name: &str| rule.threshold(name);
    match rule.kind {
        RuleKind::ExcessivePhiAccess => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "WITH n AS ( \
                     SELECT a.user_id, min(a.sequence) AS lo, max(a.sequence) AS hi, count(*) AS cnt, \
                            min(a.occurred_at) AS first_at, max(a.occurred_at) AS last_at \
                     FROM audit_log a \
                     WHERE a.organization_id = $1 AND a.sequence > $2 AND a.sequence <= $3 \
                       AND a.user_id IS NOT NULL AND {PHI_READ} \
                     GROUP BY a.user_id) \
                 SELECT n.user_id AS subject_user_id, NULL::text AS subject_ip, \
                        CASE WHEN w.d > $6 THEN 'CRITICAL' END AS tier, \
                        n.lo AS first_sequence, n.hi AS last_sequence, n.cnt AS event_count, \
                        n.first_at AS first_seen, n.last_at AS last_seen, w.d AS affected_patients, \
                        jsonb_build_object('trigger', CASE WHEN w.d > $6 THEN 'patients_per_day' \
                                WHEN w.h > $5 THEN 'patients_per_hour' ELSE 'patients_per_minute' END, \
                            'distinctPatientsLastMinute', w.m, 'distinctPatientsLastHour', w.h, \
                            'distinctPatientsLastDay', w.d, \
                            'thresholds', jsonb_build_object('patientsPerMinute', $4::bigint, \
                                'patientsPerHour', $5::bigint, 'patientsPerDay', $6::bigint), \
                            'userId', n.user_id, 'firstSequence', n.lo, 'lastSequence', n.hi, \
                            'windowEnd', n.last_at) AS evidence \
                 FROM n CROSS JOIN LATERAL ( \
                     SELECT count(DISTINCT a.patient_id) FILTER (WHERE a.occurred_at > n.last_at - interval '1 minute') AS m, \
                            count(DISTINCT a.patient_id) FILTER (WHERE a.occurred_at > n.last_at - interval '1 hour') AS h, \
                            count(DISTINCT a.patient_id) AS d \
                     FROM audit_log a \
                     WHERE a.organization_id = $1 AND a.user_id = n.user_id \
                       AND a.occurred_at > n.last_at - interval '24 hours' AND a.occurred_at <= n.last_at \
                       AND a.sequence <= $3 AND {PHI_READ}) w \
                 WHERE w.m > $4 OR w.h > $5 OR w.d > $6"
            )))
            .bind(org)
            .bind(after)
            .bind(upto)
            .bind(t("patientsPerMinute"))
            .bind(t("patientsPerHour"))
            .bind(t("patientsPerDay"))
            .fetch_all(tx.conn())
            .await
        }
        RuleKind::AfterHoursAccess => {
            // Outside business hours: not a business day, or before the start or from the end,
            // in the practice's zone.
            let off = "NOT (extract(isodow FROM a.occurred_at AT TIME ZONE o.time_zone)::smallint = ANY (o.business_days) \
                        AND (a.occurred_at AT TIME ZONE o.time_zone)::time >= o.business_hours_start \
                        AND (a.occurred_at AT TIME ZONE o.time_zone)::time < o.business_hours_end)";
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "WITH o AS (SELECT time_zone, business_hours_start, business_hours_end, business_days \
                            FROM organizations WHERE id = $1), \
                 n AS ( \
                     SELECT a.user_id, min(a.sequence) AS lo, max(a.sequence) AS hi, count(*) AS cnt, \
                            min(a.occurred_at) AS first_at, max(a.occurred_at) AS last_at \
                     FROM audit_log a, o \
                     WHERE a.organization_id = $1 AND a.sequence > $2 AND a.sequence <= $3 \
                       AND a.user_id IS NOT NULL AND {PHI_READ} AND {off} \
                     GROUP BY a.user_id) \
                 SELECT n.user_id AS subject_user_id, NULL::text AS subject_ip, NULL::text AS tier, \
                        n.lo AS first_sequence, n.hi AS last_sequence, n.cnt AS event_count, \
                        n.first_at AS first_seen, n.last_at AS last_seen, w.patients AS affected_patients, \
                        jsonb_build_object('trigger', 'reads_after_hours', 'readsLastHour', w.reads, \
                            'distinctPatientsLastHour', w.patients, \
                            'thresholds', jsonb_build_object('readsPerHour', $4::bigint), \
                            'timeZone', (SELECT time_zone FROM o), \
                            'userId', n.user_id, 'firstSequence', n.lo, 'lastSequence', n.hi, \
                            'windowEnd', n.last_at) AS evidence \
                 FROM n CROSS JOIN LATERAL ( \
                     SELECT count(*) AS reads, count(DISTINCT a.patient_id) AS patients \
                     FROM audit_log a, o \
                     WHERE a.organization_id = $1 AND a.user_id = n.user_id \
                       AND a.occurred_at > n.last_at - interval '1 hour' AND a.occurred_at <= n.last_at \
                       AND a.sequence <= $3 AND {PHI_READ} AND {off}) w \
                 WHERE w.reads > $4"
            )))
            .bind(org)
            .bind(after)
            .bind(upto)
            .bind(t("readsPerHour"))
            .fetch_all(tx.conn())
            .await
        }
        RuleKind::FailedLoginBurst => {
            let mut by_ip: Vec<Finding> = sqlx::query_as(
                "WITH n AS ( \
                     SELECT a.ip, min(a.sequence) AS lo, max(a.sequence) AS hi, count(*) AS cnt, \
                            min(a.occurred_at) AS first_at, max(a.occurred_at) AS last_at \
                     FROM audit_log a \
                     WHERE a.organization_id = $1 AND a.sequence > $2 AND a.sequence <= $3 \
                       AND a.action = 'LOGIN_FAILURE' AND a.ip IS NOT NULL \
                     GROUP BY a.ip) \
                 SELECT NULL::uuid AS subject_user_id, host(n.ip) AS subject_ip, \
                        CASE WHEN w.failures >= $6 THEN 'CRITICAL' END AS tier, \
                        n.lo AS first_sequence, n.hi AS last_sequence, n.cnt AS event_count, \
                        n.first_at AS first_seen, n.last_at AS last_seen, 0::bigint AS affected_patients, \
                        jsonb_build_object('trigger', CASE WHEN w.failures >= $5 THEN 'failures_per_ip' \
                                ELSE 'accounts_per_ip' END, \
                            'failures', w.failures, 'accounts', w.accounts, 'windowMinutes', $4::bigint, \
                            'thresholds', jsonb_build_object('failuresPerIp', $5::bigint, \
                                'failuresPerIpCritical', $6::bigint, 'accountsPerIp', $7::bigint), \
                            'firstSequence', n.lo, 'lastSequence', n.hi, 'windowEnd', n.last_at) AS evidence \
                 FROM n CROSS JOIN LATERAL ( \
                     SELECT count(*) AS failures, count(DISTINCT a.user_id) AS accounts \
                     FROM audit_log a \
                     WHERE a.organization_id = $1 AND a.action = 'LOGIN_FAILURE' AND a.ip = n.ip \
                       AND a.occurred_at > n.last_at - make_interval(mins => $4::integer) \
                       AND a.occurred_at <= n.last_at AND a.sequence <= $3) w \
                 WHERE w.failures >= $5 OR w.accounts >= $7",
            )
            .bind(org)
            .bind(after)
            .bind(upto)
            .bind(t("windowMinutes"))
            .bind(t("failuresPerIp"))
            .bind(t("failuresPerIpCritical"))
            .bind(t("accountsPerIp"))
            .fetch_all(tx.conn())
            .await?;
            // Failures then a success on one account: the failures since that account's
            // previous success, within the window before each new success.
            let by_account: Vec<Finding> = sqlx::query_as(
                "WITH s AS ( \
                     SELECT a.user_id, a.sequence, a.occurred_at FROM audit_log a \
                     WHERE a.organization_id = $1 AND a.sequence > $2 AND a.sequence <= $3 \
                       AND a.action = 'LOGIN_SUCCESS' AND a.user_id IS NOT NULL) \
                 SELECT s.user_id AS subject_user_id, NULL::text AS subject_ip, NULL::text AS tier, \
                        min(s.sequence) AS first_sequence, max(s.sequence) AS last_sequence, \
                        count(*) + sum(f.failures)::bigint AS event_count, \
                        min(s.occurred_at) AS first_seen, max(s.occurred_at) AS last_seen, \
                        0::bigint AS affected_patients, \
                        jsonb_build_object('trigger', 'failures_then_success', \
                            'failuresBeforeSuccess', max(f.failures), 'successes', count(*), \
                            'windowMinutes', $4::bigint, \
                            'thresholds', jsonb_build_object('failuresBeforeSuccess', $5::bigint), \
                            'userId', s.user_id, 'firstSequence', min(s.sequence), \
                            'lastSequence', max(s.sequence)) AS evidence \
                 FROM s CROSS JOIN LATERAL ( \
                     SELECT count(*) AS failures FROM audit_log a \
                     WHERE a.organization_id = $1 AND a.user_id = s.user_id AND a.action = 'LOGIN_FAILURE' \
                       AND a.occurred_at > s.occurred_at - make_interval(mins => $4::integer) \
                       AND a.occurred_at <= s.occurred_at AND a.sequence < s.sequence \
                       AND a.sequence > coalesce(( \
                           SELECT max(p.sequence) FROM audit_log p \
                           WHERE p.organization_id = $1 AND p.user_id = s.user_id \
                             AND p.action = 'LOGIN_SUCCESS' AND p.sequence < s.sequence \
                             AND p.occurred_at > s.occurred_at - make_interval(mins => $4::integer) \
                             AND p.occurred_at <= s.occurred_at), 0)) f \
                 WHERE f.failures >= $5 \
                 GROUP BY s.user_id",
            )
            .bind(org)
            .bind(after)
            .bind(upto)
            .bind(t("windowMinutes"))
            .bind(t("failuresBeforeSuccess"))
            .fetch_all(tx.conn())
            .await?;
            by_ip.extend(by_account);
            Ok(by_ip)
        }
        RuleKind::PrivilegeEscalation => {
            let mut attempts: Vec<Finding> = sqlx::query_as(
                "SELECT a.user_id AS subject_user_id, \
                        CASE WHEN a.user_id IS NULL THEN host(a.ip) END AS subject_ip, NULL::text AS tier, \
                        min(a.sequence) AS first_sequence, max(a.sequence) AS last_sequence, \
                        count(*) AS event_count, min(a.occurred_at) AS first_seen, \
                        max(a.occurred_at) AS last_seen, 0::bigint AS affected_patients, \
                        jsonb_build_object('trigger', 'escalation', \
                            'actions', jsonb_agg(DISTINCT a.action), 'events', count(*), \
                            'userId', a.user_id, 'firstSequence', min(a.sequence), \
                            'lastSequence', max(a.sequence)) AS evidence \
                 FROM audit_log a \
                 WHERE a.organization_id = $1 AND a.sequence > $2 AND a.sequence <= $3 \
                   AND (a.action IN ('ROLE_ESCALATION_ATTEMPT', 'REFRESH_TOKEN_REUSE') \
                        OR (a.action = 'DPOP_PROOF_REJECTED' \
                            AND a.details->>'reason' IN ('replay', 'key_mismatch'))) \
                   AND (a.user_id IS NOT NULL OR a.ip IS NOT NULL) \
                 GROUP BY a.user_id, CASE WHEN a.user_id IS NULL THEN host(a.ip) END",
            )
            .bind(org)
            .bind(after)
            .bind(upto)
            .fetch_all(tx.conn())
            .await?;
            let denials: Vec<Finding> = sqlx::query_as(
                "WITH n AS ( \
                     SELECT a.user_id, min(a.sequence) AS lo, max(a.sequence) AS hi, count(*) AS cnt, \
                            min(a.occurred_at) AS first_at, max(a.occurred_at) AS last_at \
                     FROM audit_log a \
                     WHERE a.organization_id = $1 AND a.sequence > $2 AND a.sequence <= $3 \
                       AND a.action IN ('ACCESS_DENIED', 'CROSS_TENANT_ACCESS_ATTEMPT') \
                       AND a.user_id IS NOT NULL \
                     GROUP BY a.user_id) \
                 SELECT n.user_id AS subject_user_id, NULL::text AS subject_ip, \
                        CASE WHEN w.denials >= $5 THEN NULL ELSE 'MEDIUM' END AS tier, \
                        n.lo AS first_sequence, n.hi AS last_sequence, n.cnt AS event_count, \
                        n.first_at AS first_seen, n.last_at AS last_seen, 0::bigint AS affected_patients, \
                        jsonb_build_object('trigger', 'denials', 'denialsLastHour', w.denials, \
                            'thresholds', jsonb_build_object('deniedPerHour', $4::bigint, \
                                'deniedPerHourHigh', $5::bigint), \
                            'userId', n.user_id, 'firstSequence', n.lo, 'lastSequence', n.hi, \
                            'windowEnd', n.last_at) AS evidence \
                 FROM n CROSS JOIN LATERAL ( \
                     SELECT count(*) AS denials FROM audit_log a \
                     WHERE a.organization_id = $1 AND a.user_id = n.user_id \
                       AND a.action IN ('ACCESS_DENIED', 'CROSS_TENANT_ACCESS_ATTEMPT') \
                       AND a.occurred_at > n.last_at - interval '1 hour' AND a.occurred_at <= n.last_at \
                       AND a.sequence <= $3) w \
                 WHERE w.denials >= $4",
            )
            .bind(org)
            .bind(after)
            .bind(upto)
            .bind(t("deniedPerHour"))
            .bind(t("deniedPerHourHigh"))
            .fetch_all(tx.conn())
            .await?;
            attempts.extend(denials);
            Ok(attempts)
        }
        RuleKind::BulkExport => {
            sqlx::query_as(
                "WITH n AS ( \
                     SELECT a.user_id, min(a.sequence) AS lo, max(a.sequence) AS hi, count(*) AS cnt, \
                            min(a.occurred_at) AS first_at, max(a.occurred_at) AS last_at, \
                            coalesce(max(CASE WHEN jsonb_typeof(a.details->'patientCount') = 'number' \
                                THEN (a.details->>'patientCount')::numeric END), 0)::bigint AS largest \
                     FROM audit_log a \
                     WHERE a.organization_id = $1 AND a.sequence > $2 AND a.sequence <= $3 \
                       AND a.action IN ('AUDIT_EXPORT', 'CHARGE_EXPORT') AND a.user_id IS NOT NULL \
                     GROUP BY a.user_id) \
                 SELECT n.user_id AS subject_user_id, NULL::text AS subject_ip, \
                        CASE WHEN w.exports > $4 THEN NULL ELSE 'HIGH' END AS tier, \
                        n.lo AS first_sequence, n.hi AS last_sequence, n.cnt AS event_count, \
                        n.first_at AS first_seen, n.last_at AS last_seen, n.largest AS affected_patients, \
                        jsonb_build_object('trigger', CASE WHEN w.exports > $4 THEN 'exports_per_hour' \
                                ELSE 'patients_per_export' END, \
                            'exportsLastHour', w.exports, 'largestExportPatients', n.largest, \
                            'thresholds', jsonb_build_object('exportsPerHour', $4::bigint, \
                                'patientsPerExport', $5::bigint), \
                            'userId', n.user_id, 'firstSequence', n.lo, 'lastSequence', n.hi, \
                            'windowEnd', n.last_at) AS evidence \
                 FROM n CROSS JOIN LATERAL ( \
                     SELECT count(*) AS exports FROM audit_log a \
                     WHERE a.organization_id = $1 AND a.user_id = n.user_id \
                       AND a.action IN ('AUDIT_EXPORT', 'CHARGE_EXPORT') \
                       AND a.occurred_at > n.last_at - interval '1 hour' AND a.occurred_at <= n.last_at \
                       AND a.sequence <= $3) w \
                 WHERE w.exports > $4 OR n.largest > $5",
            )
            .bind(org)
            .bind(after)
            .bind(upto)
            .bind(t("exportsPerHour"))
            .bind(t("patientsPerExport"))
            .fetch_all(tx.conn())
            .await
        }
    }
}

/// Password spraying across practices, for the platform's `FAILED_LOGIN_BURST` `rule`: every
/// practice's login failures sealed since the last call (at most `batch` sequence numbers per
/// practice) are read through `haven_auth.breach_spray_scan`, whose own cursors move in `tx`;
/// each address that failed on at least `accountsPerIp` accounts in at least `practicesPerIp`
/// practices within `windowMinutes` is a finding about the address. Only in a transaction of
/// the platform organization (the incidents are its operators'); elsewhere nothing is read.
pub async fn spray_findings(
    tx: &mut TenantTx,
    rule: &RuleConfig,
    batch: i64,
) -> Result<Vec<Finding>, sqlx::Error> {
    if !tx.organization_id().is_platform() || rule.kind != RuleKind::FailedLoginBurst {
        return Ok(Vec::new());
    }
    let t = |name: &str| rule.threshold(name);
    sqlx::query_as(
        "SELECT NULL::uuid AS subject_user_id, s.ip AS subject_ip, NULL::text AS tier, \
                0::bigint AS first_sequence, 0::bigint AS last_sequence, \
                s.new_failures AS event_count, s.first_seen, s.last_seen, \
                0::bigint AS affected_patients, \
                jsonb_build_object('trigger', 'accounts_across_practices', \
                    'practices', s.practices, 'accounts', s.accounts, 'failures', s.failures, \
                    'organizationIds', to_jsonb(s.organization_ids), 'windowMinutes', $2::bigint, \
                    'thresholds', jsonb_build_object('accountsPerIp', $3::bigint, \
                        'practicesPerIp', $4::bigint), \
                    'windowEnd', s.last_seen) AS evidence \
         FROM haven_auth.breach_spray_scan($1, $2::integer, $3, $4) s",
    )
    .bind(batch)
    .bind(t("windowMinutes"))
    .bind(t("accountsPerIp"))
    .bind(t("practicesPerIp"))
    .fetch_all(tx.conn())
    .await
}

/// A finding ready to be written: its rule, subject and final severity.
#[derive(Clone, Debug, PartialEq)]
pub struct NewFinding {
    /// The rule.
    pub kind: RuleKind,
    /// The severity after the rule's configuration.
    pub severity: Severity,
    /// The merged finding.
    pub finding: Finding,
}

/// An incident the detector opened or bumped.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Upserted {
    /// The incident.
    pub id: IncidentId,
    /// Whether this write opened it.
    pub inserted: bool,
    /// Its rule kind.
    pub rule_kind: String,
    /// Its severity now.
    pub severity: String,
    /// Its subject user.
    pub subject_user_id: Option<UserId>,
    /// Its subject address.
    pub subject_ip: Option<String>,
    /// Its event count now.
    pub event_count: i64,
    /// Its affected patients now.
    pub affected_patient_count: i32,
}

/// Opens an incident per finding, or, while one is open for the same rule and subject (the
/// partial unique index), adds the finding to it: one statement for every finding. At most one
/// finding per (rule, subject) may be given.
pub async fn upsert(tx: &mut TenantTx, new: &[NewFinding]) -> Result<Vec<Upserted>, sqlx::Error> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let org = tx.organization_id();
    let ids: Vec<IncidentId> = new.iter().map(|_| IncidentId::new()).collect();
    let kinds: Vec<&str> = new.iter().map(|n| n.kind.as_str()).collect();
    let severities: Vec<&str> = new.iter().map(|n| n.severity.as_str()).collect();
    let users: Vec<Option<Uuid>> = new.iter().map(|n| n.finding.subject_user_id).collect();
    let ips: Vec<Option<String>> = new.iter().map(|n| n.finding.subject_ip.clone()).collect();
    let first: Vec<DateTime<Utc>> = new.iter().map(|n| n.finding.first_seen).collect();
    let last: Vec<DateTime<Utc>> = new.iter().map(|n| n.finding.last_seen).collect();
    let counts: Vec<i64> = new.iter().map(|n| n.finding.event_count.max(1)).collect();
    let affected: Vec<i32> = new
        .iter()
        .map(|n| i32::try_from(n.finding.affected_patients).unwrap_or(i32::MAX))
        .collect();
    let evidence: Vec<String> = new.iter().map(|n| n.finding.evidence.to_string()).collect();
    sqlx::query_as(
        "INSERT INTO security_incidents AS i (organization_id, id, rule_kind, severity, \
             subject_user_id, subject_ip, first_seen, last_seen, event_count, evidence, \
             affected_patient_count, discovered_at, notification_deadline) \
         SELECT $1, f.id, f.kind, f.severity, f.subject_user, f.subject_ip::inet, f.first_seen, \
                f.last_seen, f.cnt, f.evidence::jsonb, f.affected, now(), now() + interval '1440 hours' \
         FROM unnest($2::uuid[], $3::text[], $4::text[], $5::uuid[], $6::text[], \
                     $7::timestamptz[], $8::timestamptz[], $9::bigint[], $10::int[], $11::text[]) \
              AS f(id, kind, severity, subject_user, subject_ip, first_seen, last_seen, cnt, affected, evidence) \
         ON CONFLICT (organization_id, rule_kind, subject_key) \
             WHERE status IN ('OPEN', 'INVESTIGATING', 'CONTAINED') \
         DO UPDATE SET \
             last_seen = greatest(i.last_seen, excluded.last_seen), \
             event_count = i.event_count + excluded.event_count, \
             affected_patient_count = greatest(i.affected_patient_count, excluded.affected_patient_count), \
             severity = CASE WHEN array_position(ARRAY['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'], excluded.severity) \
                               > array_position(ARRAY['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'], i.severity) \
                             THEN excluded.severity ELSE i.severity END, \
             evidence = excluded.evidence || jsonb_build_object('firstSequence', i.evidence->'firstSequence'), \
             version = i.version + 1, updated_at = now() \
         RETURNING i.id, (i.xmax = 0) AS inserted, i.rule_kind, i.severity, i.subject_user_id, \
                   host(i.subject_ip) AS subject_ip, i.event_count, i.affected_patient_count",
    )
    .bind(org)
    .bind(&ids)
    .bind(&kinds)
    .bind(&severities)
    .bind(&users)
    .bind(&ips)
    .bind(&first)
    .bind(&last)
    .bind(&counts)
    .bind(&affected)
    .bind(&evidence)
    .fetch_all(tx.conn())
    .await
}

/// One entry of an incident's history.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// The incident.
    pub incident: IncidentId,
    /// `DETECTED`, `UPDATED`, `TRANSITION`, `RISK_ASSESSMENT`, `CONTAINMENT`, `AUTO_ACTION`.
    pub kind: &'static str,
    /// Who, when a person.
    pub actor: Option<UserId>,
    /// The status before, for transitions.
    pub from_status: Option<&'static str>,
    /// The status after, for transitions.
    pub to_status: Option<&'static str>,
    /// Ids, counts and notes.
    pub details: Value,
}

/// Appends `events` to their incidents' histories (one statement).
pub async fn append_events(tx: &mut TenantTx, events: &[NewEvent]) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let org = tx.organization_id();
    let incidents: Vec<IncidentId> = events.iter().map(|e| e.incident).collect();
    let ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind).collect();
    let actors: Vec<Option<UserId>> = events.iter().map(|e| e.actor).collect();
    let from: Vec<Option<&str>> = events.iter().map(|e| e.from_status).collect();
    let to: Vec<Option<&str>> = events.iter().map(|e| e.to_status).collect();
    let details: Vec<String> = events.iter().map(|e| e.details.to_string()).collect();
    sqlx::query(
        "INSERT INTO security_incident_events (organization_id, incident_id, id, kind, \
             actor_user_id, from_status, to_status, details) \
         SELECT $1, e.incident, e.id, e.kind, e.actor, e.from_status, e.to_status, e.details::jsonb \
         FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::text[]) \
              AS e(incident, id, kind, actor, from_status, to_status, details)",
    )
    .bind(org)
    .bind(&incidents)
    .bind(&ids)
    .bind(&kinds)
    .bind(&actors)
    .bind(&from)
    .bind(&to)
    .bind(&details)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// The organizations whose chain is ahead of the detector (most behind first), at most
/// `limit`, through the narrow SECURITY DEFINER look-up. `pool` has no tenant set.
pub async fn backlog(
    pool: &sqlx::PgPool,
    limit: i32,
) -> Result<Vec<(Uuid, i64, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT organization_id, last_sequence, head_sequence FROM haven_auth.breach_detector_backlog($1)")
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// When the oldest sealed event the detector has not read was sealed, in any organization.
pub async fn oldest_unread(pool: &sqlx::PgPool) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.breach_detector_oldest_unread()")
        .fetch_one(pool)
        .await
}

/// An incident as stored.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct IncidentRow {
    /// Its id.
    pub id: IncidentId,
    /// Its rule kind.
    pub rule_kind: String,
    /// Its severity.
    pub severity: String,
    /// The user it is about.
    pub subject_user_id: Option<UserId>,
    /// Else the address.
    pub subject_ip: Option<String>,
    /// The first event's time.
    pub first_seen: DateTime<Utc>,
    /// The last event's time.
    pub last_seen: DateTime<Utc>,
    /// Audit rows it rests on.
    pub event_count: i64,
    /// Ids, counts, sequence ranges.
    pub evidence: Value,
    /// Distinct patients concerned.
    pub affected_patient_count: i32,
    /// Workflow status.
    pub status: String,
    /// Who works it.
    pub assignee_id: Option<UserId>,
    /// When the detector found it.
    pub discovered_at: DateTime<Utc>,
    /// Discovery + 60 days.
    pub notification_deadline: DateTime<Utc>,
    /// The four-factor assessment, once made.
    pub risk_assessment: Option<Value>,
    /// Its determination, once made.
    pub determination: Option<String>,
    /// Bumped by every change.
    pub version: i32,
}

const INCIDENT_COLUMNS: &str = "id, rule_kind, severity, subject_user_id, host(subject_ip) AS subject_ip, \
    first_seen, last_seen, event_count, evidence, affected_patient_count, status, assignee_id, \
    discovered_at, notification_deadline, risk_assessment, determination, version";

/// The list's filters (all optional; `from`/`to` bound `discoveredAt`).
#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    /// Workflow status.
    pub status: Option<&'static str>,
    /// Severity.
    pub severity: Option<&'static str>,
    /// Rule kind.
    pub rule_kind: Option<&'static str>,
    /// Discovered at or after.
    pub from: Option<DateTime<Utc>>,
    /// Discovered before.
    pub to: Option<DateTime<Utc>>,
}

/// One page of the organization's incidents, newest first, and the total.
pub async fn list(
    tx: &mut TenantTx,
    _may: &ReadIncidents,
    filter: &IncidentFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<IncidentRow>, i64), sqlx::Error> {
    let org = tx.organization_id();
    let conditions = "organization_id = $1 AND ($2::text IS NULL OR status = $2) \
        AND ($3::text IS NULL OR severity = $3) AND ($4::text IS NULL OR rule_kind = $4) \
        AND ($5::timestamptz IS NULL OR discovered_at >= $5) AND ($6::timestamptz IS NULL OR discovered_at < $6)";
    let rows: Vec<IncidentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INCIDENT_COLUMNS} FROM security_incidents WHERE {conditions} \
         ORDER BY discovered_at DESC, id DESC LIMIT $7 OFFSET $8"
    )))
    .bind(org)
    .bind(filter.status)
    .bind(filter.severity)
    .bind(filter.rule_kind)
    .bind(filter.from)
    .bind(filter.to)
    .bind(limit)
    .bind(offset)
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM security_incidents WHERE {conditions} AND $7::bigint IS NOT NULL AND $8::bigint IS NOT NULL"
    )))
    .bind(org)
    .bind(filter.status)
    .bind(filter.severity)
    .bind(filter.rule_kind)
    .bind(filter.from)
    .bind(filter.to)
    .bind(limit)
    .bind(offset)
    .fetch_one(tx.conn())
    .await?;
    Ok((rows, total))
}

/// Incident `id` of the organization (locked until the transaction ends when `lock`).
pub async fn find(
    tx: &mut TenantTx,
    _may: &ReadIncidents,
    id: IncidentId,
    lock: bool,
) -> Result<Option<IncidentRow>, sqlx::Error> {
    let org = tx.organization_id();
    let lock = if lock { " FOR UPDATE" } else { "" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {INCIDENT_COLUMNS} FROM security_incidents WHERE organization_id = $1 AND id = $2{lock}"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// Which organization holds incident `id`, if any (a foreign id is a cross-tenant attempt).
pub async fn organization_of(
    tx: &mut TenantTx,
    id: IncidentId,
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.security_incident_organization($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}

/// One entry of an incident's history.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct EventRow {
    /// Its id.
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub kind: String,
    /// Who, when a person.
    pub actor_user_id: Option<UserId>,
    /// The status before (transitions).
    pub from_status: Option<String>,
    /// The status after (transitions).
    pub to_status: Option<String>,
    /// Ids, counts, notes.
    pub details: Value,
}

/// Incident `id`'s history, oldest first.
pub async fn history(
    tx: &mut TenantTx,
    _may: &ReadIncidents,
    id: IncidentId,
) -> Result<Vec<EventRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "SELECT id, at, kind, actor_user_id, from_status, to_status, details \
         FROM security_incident_events WHERE organization_id = $1 AND incident_id = $2 \
         ORDER BY at, id",
    )
    .bind(org)
    .bind(id)
    .fetch_all(tx.conn())
    .await
}

/// Moves locked incident `id` to `to` (the caller checked the transition), assigning it to
/// `assignee` when it has no assignee yet.
pub async fn set_status(
    tx: &mut TenantTx,
    _may: &WorkIncidents,
    id: IncidentId,
    to: &str,
    assignee: UserId,
) -> Result<IncidentRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE security_incidents SET status = $3, assignee_id = coalesce(assignee_id, $4), \
             version = version + 1, updated_at = now() \
         WHERE organization_id = $1 AND id = $2 RETURNING {INCIDENT_COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(to)
    .bind(assignee)
    .fetch_one(tx.conn())
    .await
}

/// Records incident `id`'s risk assessment and determination.
pub async fn set_risk_assessment(
    tx: &mut TenantTx,
    _may: &WorkIncidents,
    id: IncidentId,
    assessment: &Value,
    determination: &str,
) -> Result<IncidentRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE security_incidents SET risk_assessment = $3, determination = $4, \
             version = version + 1, updated_at = now() \
         WHERE organization_id = $1 AND id = $2 RETURNING {INCIDENT_COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(assessment)
    .bind(determination)
    .fetch_one(tx.conn())
    .await
}

/// Disables user `user` of the organization (containment `DISABLE_USER`); `false` when there
/// is no such user. The caller ends their tokens and sessions in the same transaction.
pub async fn disable_user(
    tx: &mut TenantTx,
    _may: &ContainIncidents,
    user: UserId,
) -> Result<bool, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE users SET disabled = true, updated_at = now() WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(user)
    .execute(tx.conn())
    .await
    .map(|r| r.rows_affected() > 0)
}

/// Whether user `user` is in the organization.
pub async fn user_exists(tx: &mut TenantTx, user: UserId) -> Result<bool, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE organization_id = $1 AND id = $2)")
        .bind(org)
        .bind(user)
        .fetch_one(tx.conn())
        .await
}

/// Stores the organization's configuration of one rule (complete thresholds), replacing any.
pub async fn put_rule(
    tx: &mut TenantTx,
    _may: &ConfigureDetection,
    rule: &RuleConfig,
    by: UserId,
) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    let thresholds = serde_json::to_value(&rule.thresholds).unwrap_or_default();
    sqlx::query(
        "INSERT INTO detection_rules (organization_id, kind, enabled, thresholds, severity, auto_action, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (organization_id, kind) DO UPDATE SET enabled = excluded.enabled, \
             thresholds = excluded.thresholds, severity = excluded.severity, \
             auto_action = excluded.auto_action, updated_by = excluded.updated_by, updated_at = now()",
    )
    .bind(org)
    .bind(rule.kind.as_str())
    .bind(rule.enabled)
    .bind(thresholds)
    .bind(rule.severity.as_str())
    .bind(rule.auto_action.map(AutoAction::as_str))
    .bind(by)
    .execute(tx.conn())
    .await
    .map(drop)
}
