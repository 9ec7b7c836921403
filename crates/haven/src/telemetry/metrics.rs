//! The Prometheus metrics of SPEC §9, recorded through the `metrics` facade into one
//! process-wide Prometheus recorder, rendered by [`super::metrics_server`].
//!
//! Labels are low-cardinality by construction: HTTP series carry the *matched* route
//! (`/api/patients/{id}`, never the raw path), methods and statuses come from fixed sets, and
//! every other label is a `&'static str` chosen in code. No label ever holds an id, a name or
//! anything a client typed.
//!
//! Most domain counters follow the audit trail: [`audited`] is called by the audit writer for
//! every event it stores, so "every security-relevant event is audited" and "every audited
//! security event is counted" are one fact. An event is counted when its row is written in its
//! transaction (break-the-glass grants, uses, revokes, expiries and reviews included); in the
//! rare case that transaction then rolls back (the request fails with a 5xx) the counter is one
//! ahead, which errs on the side of alerting.
//!
//! Counters of work that other processes do too are read from the database at scrape time
//! instead: key rotations ([`render_key_rotations`]) happen in the server and in
//! `haven keys rotate`, a process of its own whose in-memory counter nobody scrapes.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use ::metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::audit::{AuditAction, AuditEvent};

/// Requests answered, by method, matched route and status.
pub const HTTP_REQUESTS: &str = "haven_http_requests_total";
/// Request latency, by method and matched route.
pub const HTTP_DURATION: &str = "haven_http_request_duration_seconds";
/// Login attempts by outcome.
pub const LOGINS: &str = "haven_auth_logins_total";
/// Users per password hash algorithm (the Argon2id adoption share).
pub const PASSWORD_HASHES: &str = "haven_password_hashes";
/// Signing and data key rotations, counted in the database (see [`render_key_rotations`]).
pub const KEY_ROTATIONS: &str = "haven_key_rotations_total";
/// Statements PostgreSQL refused for row-level security (a bug if ever non-zero).
pub const RLS_VIOLATIONS: &str = "haven_rls_violations_total";
/// Break-the-glass events by action.
pub const BTG_EVENTS: &str = "haven_btg_events_total";
/// Unit reservations by outcome.
pub const UNIT_RESERVATIONS: &str = "haven_unit_reservations_total";
/// `haven_appointments_total{outcome}`: booking attempts (SPEC §9).
pub const APPOINTMENTS: &str = "haven_appointments_total";
/// The outcomes of `haven_appointments_total`.
pub const APPOINTMENT_OUTCOMES: [&str; 3] = ["booked", "conflict", "outside_availability"];
/// 1 while the WAL archiver's last attempt failed, else 0 (absent without archiving).
pub const WAL_ARCHIVE_FAILING: &str = "haven_wal_archive_failing";
/// Failed WAL archiving attempts (PostgreSQL's count, read at scrape time).
pub const WAL_ARCHIVE_FAILURES: &str = "haven_wal_archive_failures";
/// DPoP proofs checked, by outcome (`accepted` or the rejection's reason).
pub const DPOP_PROOFS: &str = "haven_dpop_proofs_total";
/// Time to write audit rows into the outbox.
pub const AUDIT_WRITE_DURATION: &str = "haven_audit_write_duration_seconds";
/// Runtime pool connections by state.
pub const DB_POOL_CONNECTIONS: &str = "haven_db_pool_connections";
/// Security events by type.
pub const SECURITY_EVENTS: &str = "haven_security_events_total";
/// Security incidents opened by the breach detector, by rule kind and severity.
pub const SECURITY_INCIDENTS: &str = "haven_security_incidents_total";
/// How far the breach detector trails the sealed audit chain.
pub const BREACH_DETECTOR_LAG: &str = "haven_breach_detector_lag_seconds";
/// Open realtime sockets on this instance.
pub const REALTIME_CONNECTIONS: &str = "haven_realtime_connections";
/// Age of the newest event when the realtime tailer delivered it.
pub const REALTIME_LAG: &str = "haven_realtime_lag_seconds";
/// Realtime sockets closed for falling behind (1013).
pub const REALTIME_DROPPED: &str = "haven_realtime_dropped_total";

/// Request latencies: 1 ms to 10 s.
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Audit writes: one INSERT in an open transaction, 0.1 ms to 1 s.
const AUDIT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Outcomes of a reservation, as labelled.
pub const RESERVATION_OUTCOMES: &[&str] = &[
    "reserved",
    "insufficient_units",
    "exhausted",
    "expired",
    "not_active",
    "too_long",
    "not_found",
];

/// The break-the-glass actions of `haven_btg_events_total`, each audited once per event.
pub const BTG_ACTIONS: &[AuditAction] = &[
    AuditAction::BtgGrantAccess,
    AuditAction::BtgUseAccess,
    AuditAction::BtgRevokeAccess,
    AuditAction::BtgExpired,
    AuditAction::BtgReview,
];

/// The audited actions counted as security events (`type` is the action in lower case).
const SECURITY_ACTIONS: &[AuditAction] = &[
    AuditAction::AccessDenied,
    AuditAction::CrossTenantAccessAttempt,
    AuditAction::RoleEscalationAttempt,
    AuditAction::RefreshTokenReuse,
    AuditAction::SuperAdminBypass,
    AuditAction::DpopProofRejected,
];

/// Security events that are refusals of the HTTP layer rather than audited actions.
const SECURITY_RESPONSES: &[&str] = &["rate_limited", "csrf_failed"];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same handle).
///
/// Until this runs, recording is a no-op. [`crate::App::start`] calls it, so every server and
/// every test app records.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), HTTP_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(AUDIT_WRITE_DURATION.to_owned()),
                        AUDIT_BUCKETS,
                    )
                });
            // The bucket lists are constant and non-empty, so this does not fail; if it did,
            // histograms would be summaries, which is still a working exporter.
            let recorder = builder
                .unwrap_or_else(|_| PrometheusBuilder::new())
                .build_recorder();
            let handle = recorder.handle();
            if ::metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
            }
            describe();
            start_series();
            handle
        })
        .clone()
}

/// How often [`spawn_upkeep`] drains histogram samples.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Drains the recorded histogram samples into their buckets every `interval`. The recorder
/// keeps raw samples until then: without this, a Haven that nobody scrapes (or that runs with
/// `HAVEN_METRICS_BIND=off`) would hold every latency it ever measured.
pub fn spawn_upkeep(interval: Duration) -> tokio::task::JoinHandle<()> {
    let handle = install();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            handle.run_upkeep();
        }
    })
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, matched route and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency, by method and matched route"
    );
    describe_counter!(LOGINS, "Login attempts by outcome");
    describe_counter!(
        SECURITY_INCIDENTS,
        "Security incidents opened by the breach detector, by rule kind and severity"
    );
    describe_gauge!(
        BREACH_DETECTOR_LAG,
        Unit::Seconds,
        "Age of the oldest sealed audit event the breach detector has not read yet"
    );
    describe_gauge!(
        PASSWORD_HASHES,
        "Users per password hash algorithm (argon2id, bcrypt awaiting rehash, other)"
    );
    describe_counter!(
        RLS_VIOLATIONS,
        "Statements refused by row-level security (the application's checks come first: any \
         increase is a bug)"
    );
    describe_counter!(BTG_EVENTS, "Break-the-glass events by action");
    describe_counter!(UNIT_RESERVATIONS, "Unit reservations by outcome");
    describe_counter!(APPOINTMENTS, "Appointment bookings by outcome");
    describe_gauge!(
        WAL_ARCHIVE_FAILING,
        "1 while WAL archiving fails (the recovery point falls behind), else 0"
    );
    describe_gauge!(
        WAL_ARCHIVE_FAILURES,
        "Failed WAL archiving attempts, as PostgreSQL counts them"
    );
    describe_counter!(
        DPOP_PROOFS,
        "DPoP proofs checked, by outcome (accepted, or why one was rejected)"
    );
    describe_histogram!(
        AUDIT_WRITE_DURATION,
        Unit::Seconds,
        "Time to write audit events in the request's transaction"
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Runtime pool connections: idle, in_use, max"
    );
    describe_counter!(SECURITY_EVENTS, "Security events by type");
    describe_gauge!(
        REALTIME_CONNECTIONS,
        "Open realtime sockets on this instance"
    );
    describe_gauge!(
        REALTIME_LAG,
        Unit::Seconds,
        "Age of the newest realtime event (its audit row's instant) when it was delivered"
    );
    describe_counter!(
        REALTIME_DROPPED,
        "Realtime sockets closed (1013) because their client fell 256 messages behind"
    );
}

/// Every labelled series a dashboard alerts on starts at 0, so an alert on "increase" works
/// from the first event and a scrape shows the series before anything happened.
fn start_series() {
    gauge!(BREACH_DETECTOR_LAG).set(0.0);
    gauge!(REALTIME_CONNECTIONS).increment(0.0);
    gauge!(REALTIME_LAG).set(0.0);
    counter!(REALTIME_DROPPED).increment(0);
    for outcome in ["success", "failure"] {
        counter!(LOGINS, "outcome" => outcome).increment(0);
    }
    for action in BTG_ACTIONS {
        counter!(BTG_EVENTS, "action" => action.as_str()).increment(0);
    }
    for outcome in RESERVATION_OUTCOMES {
        counter!(UNIT_RESERVATIONS, "outcome" => *outcome).increment(0);
    }
    for action in SECURITY_ACTIONS {
        counter!(SECURITY_EVENTS, "type" => security_type(*action)).increment(0);
    }
    for kind in SECURITY_RESPONSES {
        counter!(SECURITY_EVENTS, "type" => *kind).increment(0);
    }
    counter!(RLS_VIOLATIONS).increment(0);
    counter!(DPOP_PROOFS, "outcome" => "accepted").increment(0);
}

/// One answered request. `route` is the matched route template (or `unmatched`).
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let method = known_method(method);
    counter!(
        HTTP_REQUESTS,
        "method" => method,
        "route" => route.to_owned(),
        "status" => status.to_string(),
    )
    .increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route.to_owned())
        .record(elapsed.as_secs_f64());
}

/// A method label from a fixed set: anything unusual is `other`.
fn known_method(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// A security refusal answered by the HTTP layer itself (`rate_limited`, `csrf_failed`).
pub fn security_response(kind: &'static str) {
    counter!(SECURITY_EVENTS, "type" => kind).increment(1);
}

/// Audit events just written, and how long the write took.
pub fn audited(events: &[AuditEvent], elapsed: Duration) {
    histogram!(AUDIT_WRITE_DURATION).record(elapsed.as_secs_f64());
    for event in events {
        count_audited(event);
    }
}

fn count_audited(event: &AuditEvent) {
    let action = event.action();
    match action {
        AuditAction::LoginSuccess => counter!(LOGINS, "outcome" => "success").increment(1),
        AuditAction::LoginFailure => counter!(LOGINS, "outcome" => "failure").increment(1),
        _ if BTG_ACTIONS.contains(&action) => {
            counter!(BTG_EVENTS, "action" => action.as_str()).increment(1);
        }
        _ if SECURITY_ACTIONS.contains(&action) => {
            counter!(SECURITY_EVENTS, "type" => security_type(action)).increment(1);
        }
        _ => {}
    }
}

/// `CROSS_TENANT_ACCESS_ATTEMPT` → `cross_tenant_access_attempt`.
fn security_type(action: AuditAction) -> String {
    action.as_str().to_ascii_lowercase()
}

/// One reservation attempt; `outcome` is one of [`RESERVATION_OUTCOMES`].
pub fn unit_reservation(outcome: &'static str) {
    debug_assert!(RESERVATION_OUTCOMES.contains(&outcome));
    counter!(UNIT_RESERVATIONS, "outcome" => outcome).increment(1);
}

/// One booking attempt; `outcome` is one of [`APPOINTMENT_OUTCOMES`].
pub fn appointment(outcome: &'static str) {
    debug_assert!(APPOINTMENT_OUTCOMES.contains(&outcome));
    counter!(APPOINTMENTS, "outcome" => outcome).increment(1);
}

/// One DPoP proof checked: `accepted`, or the reason it was rejected.
pub fn dpop_proof(outcome: &'static str) {
    counter!(DPOP_PROOFS, "outcome" => outcome).increment(1);
}

/// A security incident just opened (`kind` and `severity` come from fixed sets).
pub fn security_incident(kind: &'static str, severity: &'static str) {
    counter!(SECURITY_INCIDENTS, "kind" => kind, "severity" => severity).increment(1);
}

/// The breach detector's lag after a pass.
pub fn breach_detector_lag(seconds: f64) {
    gauge!(BREACH_DETECTOR_LAG).set(seconds);
}

/// A realtime socket opened (`1.0`) or closed (`-1.0`).
pub fn realtime_connections(delta: f64) {
    gauge!(REALTIME_CONNECTIONS).increment(delta);
}

/// The age of the newest event the realtime tailer just delivered.
pub fn realtime_lag(seconds: f64) {
    gauge!(REALTIME_LAG).set(seconds);
}

/// A realtime socket closed for falling behind.
pub fn realtime_dropped() {
    counter!(REALTIME_DROPPED).increment(1);
}

/// A statement refused by row-level security.
pub fn rls_violation() {
    counter!(RLS_VIOLATIONS).increment(1);
}

/// The runtime pool's connections, read at scrape time.
pub fn db_pool(idle: u32, in_use: u32, max: u32) {
    gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
    gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
    gauge!(DB_POOL_CONNECTIONS, "state" => "max").set(f64::from(max));
}

/// The last key rotation count read from the database (-1: none yet).
static KEY_ROTATIONS_READ: AtomicI64 = AtomicI64::new(-1);

/// Appends `haven_key_rotations_total` to a scrape's text: `total` as just read from the
/// database, or (`None`: the read failed) the last count this process read, or nothing if it
/// never read one. Every instance reports the deployment's total, CLI rotations included.
///
/// The series is written here rather than kept in the process-wide recorder: the count belongs
/// to the database of the app being scraped, and a recorder counter only ever grows to the
/// largest value any app of the process set.
pub fn render_key_rotations(out: &mut String, total: Option<i64>) {
    let total = match total {
        Some(total) => {
            KEY_ROTATIONS_READ.store(total, Ordering::Relaxed);
            total
        }
        None => KEY_ROTATIONS_READ.load(Ordering::Relaxed),
    };
    if total < 0 {
        return;
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!(
        "# HELP {KEY_ROTATIONS} Signing and data key rotations (committed, by any process)\n\
         # TYPE {KEY_ROTATIONS} counter\n\
         {KEY_ROTATIONS} {total}\n"
    ));
}

/// The WAL archiver's state, read at scrape time.
pub fn wal_archive(failing: bool, failures: i64) {
    gauge!(WAL_ARCHIVE_FAILING).set(if failing { 1.0 } else { 0.0 });
    #[expect(clippy::cast_precision_loss, reason = "a failure count fits a gauge")]
    gauge!(WAL_ARCHIVE_FAILURES).set(failures as f64);
}

/// Users per hash algorithm, read at scrape time.
pub fn password_hashes(counts: &[(String, i64)]) {
    for algorithm in ["argon2id", "bcrypt", "other"] {
        let users = counts
            .iter()
            .find(|(name, _)| name == algorithm)
            .map_or(0, |(_, n)| *n);
        #[expect(clippy::cast_precision_loss, reason = "a user count fits a gauge")]
        gauge!(PASSWORD_HASHES, "algorithm" => algorithm).set(users as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_fixed_sets() {
        assert_eq!(known_method("GET"), "GET");
        assert_eq!(known_method("BREW"), "other");
        assert_eq!(
            security_type(AuditAction::CrossTenantAccessAttempt),
            "cross_tenant_access_attempt"
        );
    }

    #[test]
    fn the_recorder_renders_what_was_recorded() {
        let handle = install();
        http_request("GET", "/api/patients/{id}", 200, Duration::from_millis(3));
        unit_reservation("exhausted");
        let text = handle.render();
        assert!(text.contains(
            "haven_http_requests_total{method=\"GET\",route=\"/api/patients/{id}\",status=\"200\"}"
        ));
        assert!(text.contains("haven_http_request_duration_seconds_bucket{"));
        assert!(text.contains("haven_unit_reservations_total{outcome=\"exhausted\"}"));
    }

    #[test]
    fn key_rotations_render_the_count_read_or_the_last_one() {
        let mut text = String::from("# TYPE other counter\nother 1\n");
        render_key_rotations(&mut text, Some(3));
        assert!(
            text.ends_with(
                "# TYPE haven_key_rotations_total counter\nhaven_key_rotations_total 3\n"
            )
        );
        assert!(text.contains("# HELP haven_key_rotations_total "));

        let mut failed_read = String::new();
        render_key_rotations(&mut failed_read, None);
        assert!(failed_read.ends_with("haven_key_rotations_total 3\n"));
    }

    #[test]
    fn audited_btg_actions_are_counted_and_other_actions_are_not() {
        let handle = install();
        let series = |action: &str| format!("haven_btg_events_total{{action=\"{action}\"}}");
        let count = |text: &str, action: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(&format!("{} ", series(action))))
                .map_or(0.0, |value| value.parse::<f64>().expect("a number"))
        };
        let before = count(&handle.render(), "BTG_REVOKE_ACCESS");

        audited(
            &[
                AuditEvent::new(AuditAction::BtgRevokeAccess),
                AuditEvent::new(AuditAction::PatientRead),
            ],
            Duration::from_micros(200),
        );

        let text = handle.render();
        assert!(count(&text, "BTG_REVOKE_ACCESS") > before);
        assert!(!text.contains(&series("PATIENT_READ")));
        for action in BTG_ACTIONS {
            assert!(
                text.contains(&series(action.as_str())),
                "{action:?} is exported"
            );
        }
    }
}
