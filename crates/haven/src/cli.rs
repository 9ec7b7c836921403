//! The `haven` command line.

use clap::{Args, Parser, Subcommand};

use crate::domain::Role;
use crate::ids::OrganizationId;

/// Haven: the PHI-safe backend for therapy and behavioral-health practices.
#[derive(Debug, Parser)]
#[command(name = "haven", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands. Settings come from `HAVEN_*` environment variables (see the README).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API on HAVEN_BIND (default 127.0.0.1:8080).
    Serve,
    /// Apply database migrations and create the first platform operator, then exit.
    Migrate,
    /// Organizations and users. Passwords are read from standard input when it is piped,
    /// otherwise generated and printed once.
    Admin {
        /// The action.
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The audit log.
    Audit {
        /// The action.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// JWT signing keys, PHI data keys and the master key.
    Keys {
        /// The action.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Backups of the embedded database: a base backup while Haven serves, and a restore
    /// (to the end, or to a point in time with `HAVEN_WAL_ARCHIVE_DIR`).
    Backup {
        /// The action.
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Maintenance of the unit ledger.
    Maintenance {
        /// The action.
        #[command(subcommand)]
        command: MaintenanceCommand,
    },
}

/// `haven backup ...`
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a consistent base backup of the embedded cluster into DIR (pg_basebackup), while
    /// Haven serves or not. The master key is never in it: escrow it separately.
    Create {
        /// A new (or empty) directory.
        #[arg(long, value_name = "DIR")]
        to: std::path::PathBuf,
    },
    /// Restore a base backup as the cluster of HAVEN_DATA_DIR (which must have none), replaying
    /// the WAL archive of HAVEN_WAL_ARCHIVE_DIR to its end or to --to-time. Needs the backed-up
    /// deployment's master key (HAVEN_MASTER_KEY or HAVEN_MASTER_KEY_FILE).
    Restore {
        /// The base backup (a `haven backup create` directory).
        #[arg(long, value_name = "DIR")]
        from: std::path::PathBuf,
        /// Stop replaying at this instant (RFC 3339, e.g. 2027-03-15T13:45:00Z); needs
        /// HAVEN_WAL_ARCHIVE_DIR.
        #[arg(long, value_name = "TIME")]
        to_time: Option<String>,
    },
}

/// `haven maintenance ...`
#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Release stale reservations in every organization (sessions still open well past their
    /// reserved end) and print the JSON result.
    CleanupStale {
        /// Minutes past a session's reserved end before it counts as stale (default
        /// HAVEN_STALE_THRESHOLD_MINUTES, 60).
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=10_080))]
        older_than_minutes: Option<i32>,
    },
}

/// `haven admin ...`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a practice and its first ADMIN.
    CreateOrg(CreateOrgArgs),
    /// Create a user in an organization.
    CreateUser(CreateUserArgs),
}

/// `haven admin create-org`
#[derive(Debug, Args)]
pub struct CreateOrgArgs {
    /// The practice's name.
    #[arg(long)]
    pub name: String,
    /// The first admin's email.
    #[arg(long)]
    pub admin_email: String,
    /// The first admin's given name.
    #[arg(long)]
    pub admin_first_name: String,
    /// The first admin's family name.
    #[arg(long)]
    pub admin_last_name: String,
}

/// `haven admin create-user`
#[derive(Debug, Args)]
pub struct CreateUserArgs {
    /// The organization's id.
    #[arg(long)]
    pub org: OrganizationId,
    /// Login email.
    #[arg(long)]
    pub email: String,
    /// ADMIN, CLINICIAN, BILLING or COMPLIANCE (SUPER_ADMIN in the platform organization).
    #[arg(long)]
    pub role: Role,
    /// Given name.
    #[arg(long)]
    pub first_name: String,
    /// Family name.
    #[arg(long)]
    pub last_name: String,
}

/// `haven keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Retire the signing key and start signing with a new one (the old one stays in the JWKS
    /// for the grace period).
    Rotate,
    /// List the signing keys and their status.
    List,
    /// Start encrypting an organization's PHI under a new data key, and re-encrypt what it has
    /// in batches (the service keeps running; readers decrypt old and new alike).
    RotateData {
        /// The organization.
        #[arg(long)]
        org: OrganizationId,
        /// Rows per batch (each batch is its own transaction).
        #[arg(long, default_value_t = 500)]
        batch: i64,
    },
    /// Re-wrap every key the master key wraps (PHI data, blind-index and signing keys, JWT
    /// signing keys, checkpoint/MFA/CSRF/DPoP secrets) under a new master key, while Haven runs.
    /// Run it with the deployment's current key as HAVEN_MASTER_KEY(_FILE), after every instance
    /// was restarted with the new key as HAVEN_MASTER_KEY_FILE and the old one as
    /// HAVEN_PREVIOUS_MASTER_KEY_FILE. Resumable: run it again after an interruption.
    RotateMaster {
        /// The new master key: base64 of 32 random bytes, mode 0600 or stricter.
        #[arg(long, value_name = "FILE")]
        new_key_file: std::path::PathBuf,
        /// Keys per transaction.
        #[arg(long, default_value_t = 100)]
        batch: i64,
    },
}

/// `haven audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the audit hash chains (every organization's, or one); exits non-zero at the first
    /// break, naming its sequence number.
    Verify {
        /// Only this organization.
        #[arg(long)]
        org: Option<OrganizationId>,
        /// Segments of a chain checked in parallel, each on its own connection [default: the
        /// machine's cores]. 1 streams each chain in one statement.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
        segments: Option<u16>,
    },
}
