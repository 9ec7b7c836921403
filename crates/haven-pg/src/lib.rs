//! Runs a private PostgreSQL cluster from the server binaries installed on
//! the machine.
//!
//! Haven uses this for its default "embedded database" mode, and its test
//! harness uses it to share one cluster among many test processes. The crate
//! is synchronous: it drives `initdb` and `pg_ctl` with [`std::process::Command`].
//!
//! ```no_run
//! use haven_pg::{Cluster, ClusterSpec, PgBinaries};
//!
//! # fn main() -> Result<(), haven_pg::Error> {
//! let bins = PgBinaries::locate(None)?;
//! let (cluster, _created) = Cluster::prepare(
//!     bins,
//!     ClusterSpec {
//!         data_dir: "/var/lib/haven/pg".into(),
//!         socket_dir: "/run/haven/pg".into(),
//!         port: 5432,
//!         superuser: "haven".into(),
//!         settings: Vec::new(),
//!         no_sync: false,
//!     },
//! )?;
//! cluster.start()?;
//! // Connect as `cluster.superuser()` through the socket in `cluster.socket_dir()`.
//! cluster.stop()?;
//! # Ok(())
//! # }
//! ```
//!
//! Things worth knowing:
//!
//! - The server only listens on a Unix socket in a private (mode 0700)
//!   directory, never on TCP, and local connections use `trust`
//!   authentication: only the server's OS user and root can reach it.
//! - PostgreSQL refuses to run as root. When we are root, every PostgreSQL
//!   program runs as the `postgres` user (or `nobody` if there is none), and
//!   the data and socket directories are given to that user.
//! - The settings haven-pg manages are rewritten at every start into
//!   `haven.conf` in the data directory, which `postgresql.conf` includes.
//! - `prepare`, `start`, `ensure_running` and `stop` take a lock file in the
//!   socket directory, so processes sharing a cluster do not trip over each
//!   other.

mod binaries;
mod cluster;
mod config;
mod dirs;
mod error;
mod lock;
mod pidfile;
mod run_as;

pub use binaries::{MIN_MAJOR_VERSION, PgBinaries};

/// Makes sure `dir` exists as a private directory (mode 0700) of the user the server runs as,
/// e.g. a WAL archive the server's `archive_command` writes into.
///
/// # Errors
/// When the server's user could not reach it, or it cannot be created or handed over.
pub fn ensure_server_dir(dir: &std::path::Path) -> Result<(), Error> {
    let run_as = run_as::RunAs::detect()?;
    if let Some(user) = &run_as {
        user.check_reachable(dir)?;
    }
    dirs::ensure_private_dir(dir, run_as.as_ref())
}

/// Copies directory `from` (a base backup) into the new private directory `to`, as the user the
/// server runs as, so that every file is that user's, with its permissions kept.
///
/// # Errors
/// When `to` exists and is not empty, or the copy fails.
pub fn copy_as_server(from: &std::path::Path, to: &std::path::Path) -> Result<(), Error> {
    let from = run_as::absolute(from)?;
    let to = run_as::absolute(to)?;
    ensure_server_dir(&to)?;
    if !dirs::is_empty(&to)? {
        return Err(Error::io("restore into", &to)(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "the directory is not empty",
        )));
    }
    let run_as = run_as::RunAs::detect()?;
    let mut cmd = run_as::command(
        std::path::Path::new("cp"),
        run_as.as_ref(),
        to.parent().unwrap_or(std::path::Path::new("/")),
    );
    cmd.arg("-a")
        .arg("--no-target-directory")
        .arg(from.join("."))
        .arg(&to);
    run_as::run("cp", &mut cmd)?;
    Ok(())
}

/// Creates an empty file `path` owned by the user the server runs as (`recovery.signal`).
///
/// # Errors
/// When it cannot be created or handed over.
pub fn touch_as_server(path: &std::path::Path) -> Result<(), Error> {
    std::fs::File::create(path).map_err(Error::io("create", path))?;
    if let Some(user) = run_as::RunAs::detect()? {
        user.chown(path)?;
    }
    Ok(())
}

/// Whether the user the server would run as can traverse every directory leading to `path`
/// (always, when we are not root: the server runs as us).
///
/// # Errors
/// When we are root and no unprivileged user exists to run the server as.
pub fn server_can_reach(path: &std::path::Path) -> Result<bool, Error> {
    Ok(match run_as::RunAs::detect()? {
        None => true,
        Some(user) => user.check_reachable(path).is_ok(),
    })
}
pub use cluster::{Cluster, ClusterSpec};
pub use error::Error;
