//! Creating, starting and stopping one private PostgreSQL cluster.
//!
//! The server never listens on TCP: it only has a Unix socket in a directory
//! of mode 0700 with a socket file of mode 0700, so only the server's own OS
//! user (and root) can connect. That is what makes the `trust` authentication
//! that initdb is told to use safe.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::unistd::geteuid;

use crate::lock::ClusterLock;
use crate::pidfile::{self, PID_FILE, Postmaster, Process};
use crate::run_as::{self, RunAs};
use crate::{Error, PgBinaries, config, dirs};

/// How long `pg_ctl start` waits for the server to accept connections.
const START_TIMEOUT_SECS: u32 = 60;
/// How long each `pg_ctl stop` attempt waits before we escalate.
const STOP_TIMEOUT_SECS: u32 = 30;
/// `sizeof(sockaddr_un.sun_path)` on Linux; the path needs a terminating NUL.
const SOCKET_PATH_LIMIT: usize = 108;
/// How many lines of the server log a start failure shows.
const LOG_TAIL_LINES: usize = 20;
/// The server log is appended to at every start; past this size it is moved
/// aside to `server.log.1` so that it cannot grow without bound.
const LOG_ROTATE_BYTES: u64 = 16 * 1024 * 1024;

/// Where and how to run a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// The data directory (`PGDATA`); created with mode 0700 if missing.
    pub data_dir: PathBuf,
    /// The directory holding the server's Unix socket; created with mode 0700 if missing.
    pub socket_dir: PathBuf,
    /// Only names the socket file (`.s.PGSQL.<port>`); the server never listens on TCP.
    pub port: u16,
    /// The superuser that initdb creates.
    pub superuser: String,
    /// Extra server settings, e.g. `("fsync", "off")` for tests. Names must
    /// match `[a-z_.]+`; values are quoted by us.
    pub settings: Vec<(String, String)>,
    /// Passes `--no-sync` to initdb (faster, for tests).
    pub no_sync: bool,
}

/// A prepared (initialised) cluster, which may or may not be running.
#[derive(Debug)]
pub struct Cluster {
    bins: PgBinaries,
    spec: ClusterSpec,
    run_as: Option<RunAs>,
}

impl Cluster {
    /// Makes sure the cluster exists, running initdb if `data_dir` has no
    /// `PG_VERSION` yet. Returns the cluster and whether it was created now.
    ///
    /// initdb uses `trust` for local (socket) connections and rejects host
    /// connections; see the module documentation for why that is safe.
    /// Refuses a non-empty `data_dir` that is not a cluster, and a cluster
    /// made by another PostgreSQL major version than `bins`.
    pub fn prepare(bins: PgBinaries, spec: ClusterSpec) -> Result<(Cluster, bool), Error> {
        let spec = ClusterSpec {
            data_dir: run_as::absolute(&spec.data_dir)?,
            socket_dir: run_as::absolute(&spec.socket_dir)?,
            ..spec
        };
        config::validate_settings(&spec.settings)?;
        check_port_and_socket_path(&spec.socket_dir, spec.port)?;
        let cluster = Cluster {
            bins,
            spec,
            run_as: RunAs::detect()?,
        };
        let run_as = cluster.run_as.as_ref();
        if let Some(user) = run_as {
            // Checked before creating anything so that a bad location leaves no trace.
            user.check_reachable(&cluster.spec.data_dir)?;
            user.check_reachable(&cluster.spec.socket_dir)?;
        }
        dirs::ensure_private_dir(&cluster.spec.socket_dir, run_as)?;
        let _lock = ClusterLock::acquire(&cluster.spec.socket_dir)?;
        dirs::ensure_private_dir(&cluster.spec.data_dir, run_as)?;
        let created = cluster.init_if_needed()?;
        Ok((cluster, created))
    }

    /// Starts the server and waits until it accepts connections.
    ///
    /// A server already running on this data directory (say, left behind by
    /// a killed process) is stopped first, so that the current settings apply.
    /// A stale `postmaster.pid` is removed.
    pub fn start(&self) -> Result<(), Error> {
        let _lock = self.lock()?;
        self.start_locked()
    }

    /// Like [`Self::start`], but leaves a running server that accepts
    /// connections on our socket alone. Meant for processes sharing a cluster.
    pub fn ensure_running(&self) -> Result<(), Error> {
        let _lock = self.lock()?;
        if let Postmaster::Running(file) = pidfile::inspect(&self.spec.data_dir)?
            && file.is_ready()
            && file.port == Some(self.spec.port)
            && file.socket_dir.as_deref() == Some(self.spec.socket_dir.as_path())
            && self.socket_path().exists()
        {
            tracing::debug!(pid = file.pid, data_dir = %self.spec.data_dir.display(), "PostgreSQL is already running");
            return Ok(());
        }
        self.start_locked()
    }

    /// Stops the server (fast shutdown, falling back to immediate shutdown
    /// after a timeout). Not running is fine.
    pub fn stop(&self) -> Result<(), Error> {
        let _lock = self.lock()?;
        self.stop_locked()
    }

    /// Whether a server is running on this data directory (`pg_ctl status`,
    /// double-checked against what the PID in `postmaster.pid` really is).
    pub fn is_running(&self) -> bool {
        let mut cmd = self.pg_ctl();
        cmd.arg("status").arg("-D").arg(&self.spec.data_dir);
        let status_ok = cmd.output().is_ok_and(|o| o.status.success());
        status_ok
            && matches!(
                pidfile::inspect(&self.spec.data_dir),
                Ok(Postmaster::Running(_))
            )
    }

    /// The PID of the running postmaster, if any.
    pub fn postmaster_pid(&self) -> Option<u32> {
        match pidfile::inspect(&self.spec.data_dir) {
            Ok(Postmaster::Running(file)) => u32::try_from(file.pid).ok(),
            _ => None,
        }
    }

    /// The directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.spec.socket_dir
    }

    /// The full path of the server's Unix socket, `<socket_dir>/.s.PGSQL.<port>`.
    pub fn socket_path(&self) -> PathBuf {
        socket_path(&self.spec.socket_dir, self.spec.port)
    }

    /// The port, which only names the socket file.
    pub fn port(&self) -> u16 {
        self.spec.port
    }

    /// The superuser initdb created.
    pub fn superuser(&self) -> &str {
        &self.spec.superuser
    }

    /// The data directory (absolute).
    pub fn data_dir(&self) -> &Path {
        &self.spec.data_dir
    }

    /// The server log, `<data_dir>/log/server.log`.
    pub fn log_file(&self) -> PathBuf {
        self.spec.data_dir.join("log").join("server.log")
    }

    /// The OS user the server runs as when we are root (`postgres` or
    /// `nobody`); `None` when it runs as the current user.
    pub fn run_as_user(&self) -> Option<&str> {
        self.run_as.as_ref().map(|u| u.name.as_str())
    }

    /// The binaries this cluster runs.
    pub fn binaries(&self) -> &PgBinaries {
        &self.bins
    }

    fn lock(&self) -> Result<ClusterLock, Error> {
        ClusterLock::acquire(&self.spec.socket_dir)
    }

    /// Runs initdb on an empty data directory, or checks an existing cluster.
    fn init_if_needed(&self) -> Result<bool, Error> {
        let data_dir = &self.spec.data_dir;
        let pg_version = data_dir.join("PG_VERSION");
        match std::fs::read_to_string(&pg_version) {
            Ok(version) => {
                self.check_existing(version.trim())?;
                return Ok(false);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("read", pg_version)(e)),
        }
        if !dirs::is_empty(data_dir)? {
            return Err(Error::NotACluster {
                dir: data_dir.clone(),
            });
        }
        tracing::info!(data_dir = %data_dir.display(), major = self.bins.major_version(), "creating PostgreSQL cluster");
        let mut cmd = self.command("initdb");
        cmd.arg("-D")
            .arg(data_dir)
            .arg(format!("--username={}", self.spec.superuser))
            .args([
                "--auth-local=trust",
                "--auth-host=reject",
                "--encoding=UTF8",
                "--locale=C",
            ]);
        if self.spec.no_sync {
            cmd.arg("--no-sync");
        }
        run_as::run("initdb", &mut cmd)?;
        Ok(true)
    }

    /// Refuses a cluster of another major version, or one owned by a user
    /// the server will not run as (PostgreSQL would refuse it less clearly).
    fn check_existing(&self, cluster_major: &str) -> Result<(), Error> {
        let data_dir = &self.spec.data_dir;
        if cluster_major != self.bins.major_version().to_string() {
            return Err(Error::VersionMismatch {
                dir: data_dir.clone(),
                cluster_major: cluster_major.to_owned(),
                bin_dir: self.bins.bin_dir().to_path_buf(),
                binaries_major: self.bins.major_version(),
            });
        }
        let owner = std::fs::metadata(data_dir)
            .map_err(Error::io("inspect", data_dir))?
            .uid();
        let (user, uid) = match &self.run_as {
            Some(user) => (user.name.clone(), user.uid.as_raw()),
            None => (current_user_name(), geteuid().as_raw()),
        };
        if owner != uid {
            return Err(Error::DataDirOwner {
                dir: data_dir.clone(),
                owner,
                user,
                uid,
            });
        }
        Ok(())
    }

    fn start_locked(&self) -> Result<(), Error> {
        let data_dir = &self.spec.data_dir;
        match pidfile::inspect(data_dir)? {
            Postmaster::Running(file) => {
                tracing::info!(pid = file.pid, data_dir = %data_dir.display(), "a PostgreSQL server is already running; restarting it so the current settings apply");
                self.stop_locked()?;
            }
            Postmaster::Stale => {
                tracing::info!(data_dir = %data_dir.display(), "removing stale postmaster.pid");
                pidfile::remove(&data_dir.join(PID_FILE))?;
            }
            Postmaster::Absent => {}
        }
        self.remove_stale_socket_lock()?;
        config::write(
            data_dir,
            &config::render(&self.spec.socket_dir, self.spec.port, &self.spec.settings),
            self.run_as.as_ref(),
        )?;
        let log_file = self.log_file();
        self.prepare_log(&log_file)?;

        tracing::info!(data_dir = %data_dir.display(), socket = %self.socket_path().display(), "starting PostgreSQL");
        let log_start = log_len(&log_file);
        let mut cmd = self.pg_ctl();
        cmd.arg("start")
            .arg("-w")
            .arg("-t")
            .arg(START_TIMEOUT_SECS.to_string())
            .arg("-D")
            .arg(data_dir)
            .arg("-l")
            .arg(&log_file)
            .arg("-s");
        run_as::run("pg_ctl start", &mut cmd).map_err(|e| Error::StartFailed {
            reason: e.to_string(),
            log_tail: log_tail(&log_file, log_start),
            log_file: log_file.clone(),
        })?;
        match self.postmaster_pid() {
            Some(pid) => tracing::info!(pid, "PostgreSQL is running"),
            None => tracing::info!("PostgreSQL is running"),
        }
        Ok(())
    }

    fn stop_locked(&self) -> Result<(), Error> {
        let data_dir = &self.spec.data_dir;
        match pidfile::inspect(data_dir)? {
            Postmaster::Absent => return Ok(()),
            Postmaster::Stale => return pidfile::remove(&data_dir.join(PID_FILE)),
            Postmaster::Running(_) => {}
        }
        tracing::info!(data_dir = %data_dir.display(), "stopping PostgreSQL");
        let fast = self.pg_ctl_stop("fast");
        let Err(fast_err) = fast else {
            return Ok(());
        };
        if !self.still_running()? {
            return Ok(());
        }
        tracing::warn!(error = %fast_err, "fast shutdown failed; trying immediate shutdown");
        let immediate = self.pg_ctl_stop("immediate");
        match immediate {
            Ok(()) => Ok(()),
            Err(_) if !self.still_running()? => Ok(()),
            Err(immediate_err) => Err(Error::StopFailed {
                data_dir: data_dir.clone(),
                reason: format!("{fast_err}; then {immediate_err}"),
            }),
        }
    }

    fn still_running(&self) -> Result<bool, Error> {
        Ok(matches!(
            pidfile::inspect(&self.spec.data_dir)?,
            Postmaster::Running(_)
        ))
    }

    fn pg_ctl_stop(&self, mode: &str) -> Result<(), Error> {
        let mut cmd = self.pg_ctl();
        cmd.arg("stop")
            .arg("-D")
            .arg(&self.spec.data_dir)
            .args(["-m", mode, "-w", "-t"])
            .arg(STOP_TIMEOUT_SECS.to_string())
            .arg("-s");
        run_as::run(&format!("pg_ctl stop -m {mode}"), &mut cmd).map(|_| ())
    }

    /// PostgreSQL also keeps a lock file next to the socket. Like
    /// `postmaster.pid` it can outlive its server and name a reused PID.
    fn remove_stale_socket_lock(&self) -> Result<(), Error> {
        let path = PathBuf::from(format!("{}.lock", self.socket_path().display()));
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(());
        };
        let pid = pidfile::PidFile::parse(&text).map(|f| f.pid);
        if pid.is_none_or(|pid| !matches!(pidfile::process(pid), Process::Postgres { .. })) {
            tracing::info!(path = %path.display(), "removing stale socket lock file");
            pidfile::remove(&path)?;
        }
        Ok(())
    }

    /// Creates the log directory and moves an oversized log aside.
    fn prepare_log(&self, log_file: &Path) -> Result<(), Error> {
        if let Some(dir) = log_file.parent() {
            dirs::ensure_private_dir(dir, self.run_as.as_ref())?;
        }
        if std::fs::metadata(log_file).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
            let old = log_file.with_extension("log.1");
            std::fs::rename(log_file, &old).map_err(Error::io("rotate", log_file))?;
        }
        Ok(())
    }

    fn pg_ctl(&self) -> Command {
        self.command("pg_ctl")
    }

    /// Takes a consistent base backup of the running cluster into `dest` with
    /// `pg_basebackup` (plain format, the WAL needed to make it consistent
    /// streamed alongside, an immediate checkpoint), as the server's user: a
    /// physical copy PostgreSQL vouches for, taken while the server serves.
    /// `dest` must not exist or be empty.
    pub fn base_backup(&self, dest: &Path) -> Result<(), Error> {
        let dest = run_as::absolute(dest)?;
        if dest.exists() && !dirs::is_empty(&dest)? {
            return Err(Error::io("back up into", &dest)(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the directory is not empty",
            )));
        }
        if let Some(user) = &self.run_as {
            user.check_reachable(&dest)?;
        }
        dirs::ensure_private_dir(&dest, self.run_as.as_ref())?;
        let mut cmd = self.command("pg_basebackup");
        cmd.arg("--pgdata")
            .arg(&dest)
            .args(["--format=plain", "--wal-method=stream", "--checkpoint=fast"])
            .arg("--host")
            .arg(&self.spec.socket_dir)
            .arg("--port")
            .arg(self.spec.port.to_string())
            .arg("--username")
            .arg(&self.spec.superuser)
            .arg("--no-password");
        let output = cmd
            .output()
            .map_err(Error::io("run pg_basebackup for", &dest))?;
        if !output.status.success() {
            return Err(Error::io("back up into", &dest)(std::io::Error::other(
                String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            )));
        }
        Ok(())
    }

    /// A command for one of the PostgreSQL programs, as the right user.
    fn command(&self, program: &str) -> Command {
        // HOME must be something the server's user can reach; none of these
        // programs actually use it.
        let home = self.spec.data_dir.parent().unwrap_or(Path::new("/"));
        run_as::command(&self.bins.program(program), self.run_as.as_ref(), home)
    }
}

fn socket_path(socket_dir: &Path, port: u16) -> PathBuf {
    socket_dir.join(format!(".s.PGSQL.{port}"))
}

fn check_port_and_socket_path(socket_dir: &Path, port: u16) -> Result<(), Error> {
    if port == 0 {
        return Err(Error::InvalidSetting {
            key: "port".to_owned(),
            problem: "the port must be between 1 and 65535".to_owned(),
        });
    }
    let path = socket_path(socket_dir, port);
    let len = path.as_os_str().len();
    if len >= SOCKET_PATH_LIMIT {
        return Err(Error::SocketPathTooLong {
            path,
            len,
            limit: SOCKET_PATH_LIMIT,
        });
    }
    Ok(())
}

fn current_user_name() -> String {
    let uid = geteuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {uid}"), |u| u.name)
}

/// The last [`LOG_TAIL_LINES`] lines of the server log written since byte
/// `since` (its length before the failed start), for error messages. Earlier
/// runs' lines would only distract; if this attempt wrote nothing, the end of
/// the whole log is shown instead.
fn log_tail(log_file: &Path, since: u64) -> String {
    const MAX_BYTES: u64 = 64 * 1024;
    let read = |since: u64| -> std::io::Result<String> {
        let mut file = std::fs::File::open(log_file)?;
        let len = file.metadata()?.len();
        let from = if since < len { since } else { 0 };
        file.seek(SeekFrom::Start(from.max(len.saturating_sub(MAX_BYTES))))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read(since) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
            if tail.is_empty() {
                "(the log is empty)".to_owned()
            } else {
                tail.join("\n")
            }
        }
        Err(e) => format!("(the log could not be read: {e})"),
    }
}

/// The current size of the log, where a new start attempt begins writing.
fn log_len(log_file: &Path) -> u64 {
    std::fs::metadata(log_file).map_or(0, |m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_length_is_limited() {
        let long = PathBuf::from(format!("/{}", "s".repeat(100)));
        let err = check_port_and_socket_path(&long, 5432).expect_err("too long");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{}/.s.PGSQL.5432", long.display())),
            "{msg}"
        );
        assert!(msg.contains("108"), "{msg}");
        assert!(check_port_and_socket_path(Path::new("/run/haven"), 5432).is_ok());
        assert!(check_port_and_socket_path(Path::new("/run/haven"), 0).is_err());
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("server.log");
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).expect("write log");
        let tail = log_tail(&path, 0);
        assert!(tail.starts_with("line 11\n"), "{tail}");
        assert!(tail.ends_with("line 30"), "{tail}");
        // Only what was written since the given offset, unless that is nothing.
        let since = u64::try_from((1..=25).map(|i| format!("line {i}\n").len()).sum::<usize>())
            .expect("fits");
        assert_eq!(
            log_tail(&path, since),
            "line 26\nline 27\nline 28\nline 29\nline 30"
        );
        assert_eq!(log_tail(&path, 10_000), tail);
        assert!(log_tail(Path::new("/nonexistent/log"), 0).contains("could not be read"));
    }
}
