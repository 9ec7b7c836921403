//! The scenarios of SPEC §10, one module each. A scenario seeds what it needs through the public
//! API (or, for the audit scenarios, straight into the started Haven's cluster), drives a load
//! with [`crate::load`], and returns a [`Report`] rendered two ways.

mod audit_verify;
mod audit_writes;
mod booking;
mod chaos;
mod charge_export;
mod detector;
mod dpop;
mod failover;
mod login;
mod notes;
mod patients;
mod realtime;
mod slots;
mod units;
mod units_cleanup;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::cli::ScenarioCommand;
use crate::cpu;
use crate::histogram::{Summary, fmt_ms};
use crate::memory::{Memory, mib};
use crate::target::Target;

/// A scenario's result: text for a terminal, or one JSON object (`--json`).
#[derive(Debug)]
pub struct Report {
    /// `label  value` rows, printed aligned.
    pub rows: Vec<(String, String)>,
    /// The same figures, machine-readable.
    pub json: Value,
}

impl Report {
    /// The rows as aligned text, one per line.
    #[must_use]
    pub fn to_text(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|(label, _)| label.len())
            .max()
            .unwrap_or(0);
        self.rows
            .iter()
            .map(|(label, value)| format!("{label:<width$}  {value}\n"))
            .collect()
    }
}

/// Runs the scenario named on the command line against `target`.
pub async fn run(scenario: &ScenarioCommand, target: &Target) -> anyhow::Result<Report> {
    match scenario {
        ScenarioCommand::Login(args) => login::run(target, args).await,
        ScenarioCommand::PatientCreate(args) => patients::create(target, args).await,
        ScenarioCommand::PatientRead(args) => patients::read(target, args).await,
        ScenarioCommand::PatientReadDpop(args) => dpop::run(target, args).await,
        ScenarioCommand::BreachDetector(args) => detector::run(target, args).await,
        ScenarioCommand::AuditVerify(args) => audit_verify::run(target, args).await,
        ScenarioCommand::AuditWrites(args) => audit_writes::run(target, args).await,
        ScenarioCommand::Reserve(args) => units::reserve(target, args).await,
        ScenarioCommand::ReserveHot(args) => units::reserve_hot(target, args).await,
        ScenarioCommand::CleanupStale(args) => units_cleanup::run(target, args).await,
        ScenarioCommand::NoteRead(args) => notes::read(target, args).await,
        ScenarioCommand::NoteSign(args) => notes::sign(target, args).await,
        ScenarioCommand::Book(args) => booking::book(target, args).await,
        ScenarioCommand::BookSeries(args) => booking::book_series(target, args).await,
        ScenarioCommand::Slots(args) => slots::run(target, args).await,
        ScenarioCommand::Failover(args) => failover::run(target, args).await,
        ScenarioCommand::Chaos(args) => chaos::run(target, args).await,
        ScenarioCommand::Realtime(args) => realtime::run(target, args).await,
        ScenarioCommand::ChargeExport(args) => charge_export::run(target, args).await,
    }
}

/// Rows whose labels are `&str`, as the scenarios build them.
fn labelled(rows: Vec<(&str, String)>) -> Vec<(String, String)> {
    rows.into_iter()
        .map(|(label, value)| (label.to_owned(), value))
        .collect()
}

/// `none`, or `409: 3, transport: 1`.
fn errors_text(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return "none".to_owned();
    }
    let parts: Vec<String> = errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    parts.join(", ")
}

/// `p50 1.20 ms  p90 ...  p99 ...  max ...`.
fn latency_text(summary: Summary) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  max {}",
        fmt_ms(summary.p50),
        fmt_ms(summary.p90),
        fmt_ms(summary.p99),
        fmt_ms(summary.max)
    )
}

/// The haven process's memory idle and after the load.
fn memory_text(idle: Option<Memory>, after: Option<Memory>) -> String {
    match (idle, after) {
        (Some(idle), Some(after)) => format!(
            "haven process RSS idle {:.1} MiB, after the load {:.1} MiB, peak {:.1} MiB",
            mib(idle.rss_kib),
            mib(after.rss_kib),
            mib(after.peak_kib)
        ),
        _ => "not measured (only with --start)".to_owned(),
    }
}

/// CPU time given in milliseconds, with the unit and precision its size deserves.
fn cpu_ms(ms: f64) -> String {
    if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else if ms >= 1.0 {
        format!("{ms:.2} ms")
    } else if ms >= 0.1 {
        format!("{ms:.3} ms")
    } else {
        format!("{:.2} µs", ms * 1000.0)
    }
}

/// Cores used during a load of `ops` operations over `elapsed`, and CPU milliseconds per
/// operation (`unit`) for haven, its database and the child processes: where the time goes.
fn cpu_text(cpu: &cpu::Usage, elapsed: Duration, ops: u64, unit: &str) -> String {
    let per_op = |cores: f64| cpu_ms(1000.0 * cores * elapsed.as_secs_f64() / ops.max(1) as f64);
    let mut parts = vec![format!("machine {:.2} cores busy", cpu.machine)];
    if let Some(haven) = cpu.haven {
        parts.push(format!("haven {haven:.2} ({}/{unit})", per_op(haven)));
    }
    if let Some(faults) = cpu.haven_faults {
        let per_op = faults as f64 / ops.max(1) as f64;
        parts.push(format!("haven page faults {per_op:.0}/{unit}"));
    }
    if let Some(postgres) = cpu.postgres {
        parts.push(format!(
            "postgres {postgres:.2} ({}/{unit})",
            per_op(postgres)
        ));
    }
    parts.push(format!(
        "haven-bench {:.2} ({}/{unit})",
        cpu.bench,
        per_op(cpu.bench)
    ));
    if cpu.children > 0.0 {
        parts.push(format!(
            "child processes {:.2} ({}/{unit})",
            cpu.children,
            per_op(cpu.children)
        ));
    }
    parts.push(format!("other processes {:.2}", cpu.other()));
    parts.join(", ")
}

/// `met` or `NOT met`.
fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_aligned_on_the_longest_label() {
        let report = Report {
            rows: vec![("a".into(), "1".into()), ("long".into(), "2".into())],
            json: Value::Null,
        };
        assert_eq!(report.to_text(), "a     1\nlong  2\n");
    }

    #[test]
    fn helpers_render_errors_and_cpu_precision() {
        let mut errors = BTreeMap::new();
        assert_eq!(errors_text(&errors), "none");
        errors.insert("409".to_owned(), 3);
        errors.insert("transport".to_owned(), 1);
        assert_eq!(errors_text(&errors), "409: 3, transport: 1");
        assert_eq!(cpu_ms(22.94), "22.9 ms");
        assert_eq!(cpu_ms(2.345), "2.35 ms");
        assert_eq!(cpu_ms(0.4567), "0.457 ms");
        assert_eq!(cpu_ms(0.00234), "2.34 µs");
        assert_eq!(verdict(false), "NOT met");
    }
}
