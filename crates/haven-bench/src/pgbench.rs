//! The physical limit of a scenario (SPEC §10): the same SQL transactions Haven issues, sent by
//! `pgbench` straight to the started Haven's embedded cluster, as the app role (so row-level
//! security applies exactly as for Haven), with as many clients as the HTTP load had.
//!
//! The scripts live in `bench/pgbench/`; each names the Haven code it mirrors. pgbench runs with
//! `-M prepared` (Haven's driver, sqlx, prepares every statement it sends with arguments and
//! caches it per connection), `-n` (no vacuum: the tables are Haven's, not pgbench's), and `-l`
//! (one log line per transaction), so that its latencies get the same exact percentiles as
//! Haven's. Its own CPU (it runs on the same machine, as haven-bench does) is measured as this
//! tool's child process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::process::Command;

use crate::cpu;
use crate::db;
use crate::histogram::Histogram;
use crate::target::Target;

/// The wait before the CPU is read again after pgbench exits (counted in the run's time).
pub const SETTLE: Duration = Duration::from_millis(200);

/// One pgbench run to make.
#[derive(Debug, Clone)]
pub struct Pgbench {
    /// The script (`-f`).
    pub script: PathBuf,
    /// Clients (`-c`).
    pub clients: u16,
    /// Worker threads (`-j`).
    pub threads: u16,
    /// How long (`-T`, whole seconds, at least one).
    pub duration: Duration,
    /// Variables (`-D name=value`).
    pub vars: Vec<(String, String)>,
}

/// What pgbench reported.
#[derive(Debug)]
pub struct PgbenchReport {
    /// The command line, variables shortened.
    pub command: String,
    /// Transactions per second, without the initial connection time (pgbench's own figure).
    pub tps: f64,
    /// Transactions completed.
    pub transactions: u64,
    /// Transactions that failed (pgbench ≥ 15 counts them instead of stopping).
    pub failed: u64,
    /// Latency of every transaction, from pgbench's per-transaction log.
    pub latencies: Histogram,
    /// CPU while it ran (pgbench itself is in `children`).
    pub cpu: cpu::Usage,
    /// Wall time of the pgbench process, connections included, and [`SETTLE`].
    pub elapsed: Duration,
}

impl PgbenchReport {
    /// `{command, tps, transactions, failed, latency, elapsedSecs, cpu}`.
    #[must_use]
    pub fn summary_json(&mut self) -> Value {
        json!({
            "command": self.command,
            "tps": self.tps,
            "transactions": self.transactions,
            "failed": self.failed,
            "latency": self.latencies.summary().to_json(),
            "elapsedSecs": self.elapsed.as_secs_f64(),
            "cpu": self.cpu.to_json(),
        })
    }
}

impl Pgbench {
    /// Runs it against the started Haven's cluster and parses what it says.
    pub async fn run(&self, target: &Target) -> anyhow::Result<PgbenchReport> {
        let server = target.started()?;
        if !self.script.is_file() {
            bail!(
                "no pgbench script at {} (--pgbench names the directory holding it)",
                self.script.display()
            );
        }
        let logs = server.scratch_dir().join(format!(
            "pgbench-log-{}",
            self.script
                .file_stem()
                .map_or_else(|| "run".into(), |stem| stem.to_string_lossy())
        ));
        std::fs::create_dir_all(&logs)?;
        let seconds = self.duration.as_secs().max(1);
        let data = server.data_dir();
        let socket = db::socket_dir(&data);
        let mut args: Vec<String> = vec![
            "-h".into(),
            socket.display().to_string(),
            "-p".into(),
            db::PORT.to_string(),
            "-U".into(),
            haven::db::APP_ROLE.into(),
            "-n".into(),
            "-M".into(),
            "prepared".into(),
            "-c".into(),
            self.clients.to_string(),
            "-j".into(),
            self.threads.to_string(),
            "-T".into(),
            seconds.to_string(),
            "-l".into(),
            format!("--log-prefix={}", logs.join("tx").display()),
            "-f".into(),
            self.script.display().to_string(),
        ];
        for (name, value) in &self.vars {
            args.push("-D".into());
            args.push(format!("{name}={value}"));
        }
        args.push(haven::db::DATABASE_NAME.into());
        let command = shown(&args);

        let (before, started) = (target.cpu_snapshot(), Instant::now());
        let output = Command::new(pgbench_bin())
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .await
            .context(
                "running pgbench (is it installed? it comes with PostgreSQL's client tools)",
            )?;
        // Its backends end as it disconnects; once the postmaster has reaped them their time
        // shows in its counters, so the second reading waits a moment.
        tokio::time::sleep(SETTLE).await;
        let elapsed = started.elapsed();
        let cpu = cpu::Usage::between(before, target.cpu_snapshot(), elapsed);
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "pgbench failed ({}): {command}\n{stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let summary = Summary::parse(&stdout)
            .with_context(|| format!("pgbench's output has no tps line:\n{stdout}"))?;
        Ok(PgbenchReport {
            command,
            tps: summary.tps,
            transactions: summary.transactions,
            failed: summary.failed,
            latencies: read_logs(&logs)?,
            cpu,
            elapsed,
        })
    }
}

/// `pgbench` from `PATH`, or where `PGBENCH` says.
fn pgbench_bin() -> PathBuf {
    std::env::var_os("PGBENCH").map_or_else(|| PathBuf::from("pgbench"), PathBuf::from)
}

/// The command line for the report: long variable values (ciphertext stand-ins) shortened.
fn shown(args: &[String]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|arg| {
            if arg.len() > 60 {
                let cut = arg
                    .char_indices()
                    .nth(40)
                    .map_or(arg.len(), |(index, _)| index);
                format!("{}…({} chars)", &arg[..cut], arg.len())
            } else {
                arg.clone()
            }
        })
        .collect();
    format!("pgbench {}", parts.join(" "))
}

/// The figures of pgbench's summary.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Summary {
    tps: f64,
    transactions: u64,
    failed: u64,
}

impl Summary {
    fn parse(stdout: &str) -> Option<Self> {
        let after = |prefix: &str| {
            stdout
                .lines()
                .find_map(|line| line.trim().strip_prefix(prefix))
                .and_then(|rest| rest.split_whitespace().next())
        };
        Some(Self {
            // "tps = 6245.123456 (without initial connection time)"
            tps: after("tps = ")?.parse().ok()?,
            transactions: after("number of transactions actually processed: ")?
                .parse()
                .ok()?,
            failed: after("number of failed transactions: ")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
        })
    }
}

/// Every transaction's latency from the per-transaction logs in `dir` (one file per thread):
/// `client_id transaction_no time_us script_no time_epoch time_us_part ...`; failed ones (whose
/// time is a word) are left out, as Haven's failed requests are.
fn read_logs(dir: &Path) -> anyhow::Result<Histogram> {
    let mut latencies = Histogram::new();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        for line in text.lines() {
            if let Some(micros) = line
                .split_whitespace()
                .nth(2)
                .and_then(|field| field.parse::<u64>().ok())
            {
                latencies.record(Duration::from_micros(micros));
            }
        }
    }
    Ok(latencies)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: bench/pgbench/patient-read.sql
scaling factor: 1
query mode: prepared
number of clients: 32
number of threads: 2
maximum number of tries: 1
duration: 20 s
number of transactions actually processed: 98765
number of failed transactions: 3 (0.003%)
latency average = 6.480 ms
initial connection time = 41.520 ms
tps = 4938.250000 (without initial connection time)
";

    #[test]
    fn the_summary_gives_tps_transactions_and_failures() {
        assert_eq!(
            Summary::parse(OUTPUT),
            Some(Summary {
                tps: 4938.25,
                transactions: 98_765,
                failed: 3
            })
        );
        assert_eq!(Summary::parse("nothing useful"), None);
    }

    #[test]
    fn logs_give_one_latency_per_transaction() {
        let dir = std::env::temp_dir().join(format!("haven-bench-log-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        std::fs::write(
            dir.join("tx.1"),
            "0 0 1500 0 1700000000 1\n1 0 2500 0 1700000000 2\n2 0 failed 0 1700000000 3\n",
        )
        .expect("written");
        std::fs::write(dir.join("tx.1.1"), "3 0 500 0 1700000000 4\n").expect("written");
        let mut latencies = read_logs(&dir).expect("read");
        std::fs::remove_dir_all(&dir).expect("removed");
        assert_eq!(latencies.count(), 3);
        assert_eq!(latencies.max(), Some(Duration::from_micros(2500)));
    }

    #[test]
    fn long_variables_are_shortened_in_the_shown_command() {
        let long = format!("blob=\\x{}", "ab".repeat(40));
        let text = shown(&["-D".into(), long]);
        assert!(text.starts_with("pgbench -D blob=\\xabab"));
        assert!(text.ends_with("…(87 chars)"));
    }
}
