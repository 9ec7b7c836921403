//! `haven-bench`: runs the load scenarios of SPEC §10 against Haven's HTTP API and prints the
//! figures that go into BENCHMARKS.md.
//!
//! ```text
//! haven-bench --start login --concurrency 16 --duration 20s [--json]
//! haven-bench --url http://127.0.0.1:8080 --operator-email E --operator-password P login
//! haven-bench --start patient-create --concurrency 32 --duration 20s [--pgbench bench/pgbench]
//! haven-bench --start patient-read --concurrency 32 --duration 20s --patients 1000 [--pgbench bench/pgbench]
//! haven-bench --start audit-verify --rows 1000000
//! haven-bench --start audit-writes --concurrency 32 --duration 20s --orgs 100
//! ```
//!
//! The pieces: [`target`] (a running Haven, or one [`server`] starts), [`seed`] (accounts through
//! the API), [`db`] (the started Haven's cluster, directly), [`load`] (N clients for D seconds,
//! latencies into a [`histogram`]), [`pgbench`] (the same SQL as the physical limit) and one
//! module per scenario under [`scenarios`].

mod cli;
mod cpu;
mod db;
mod hash_time;
mod histogram;
mod http;
mod load;
mod memory;
mod pgbench;
mod scenarios;
mod seed;
mod server;
mod target;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::Cli;
use crate::scenarios::Report;
use crate::target::Target;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(report) => match print(&report, cli.json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("haven-bench: writing the report: {error}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("haven-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Connects (or starts Haven), runs the scenario, and always stops what it started, on error
/// and on Ctrl-C too.
async fn run(cli: &Cli) -> anyhow::Result<Report> {
    let mut terminate = signal(SignalKind::terminate())?;
    let target = Target::connect(cli).await?;
    let outcome = tokio::select! {
        outcome = scenarios::run(&cli.scenario, &target) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        _ = terminate.recv() => Err(anyhow::anyhow!("terminated")),
    };
    target.finish().await;
    outcome
}

/// The report on standard output: aligned text, or one line of JSON.
fn print(report: &Report, json: bool) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    if json {
        writeln!(stdout, "{}", report.json)
    } else {
        stdout.write_all(report.to_text().as_bytes())
    }
}
