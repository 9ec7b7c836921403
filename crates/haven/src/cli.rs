//! The `haven` command line.

use clap::{Parser, Subcommand};

/// Haven: the PHI-safe backend for therapy and behavioral-health practices.
#[derive(Debug, Parser)]
#[command(name = "haven", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands. All settings come from `HAVEN_*` environment variables (see the README).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API on HAVEN_BIND (default 127.0.0.1:8080).
    Serve,
    /// Apply database migrations and create the first platform operator, then exit.
    Migrate,
}
