//! `--start`: runs a private Haven for the length of one benchmark.
//!
//! The `haven` binary gets a fresh data directory under `/dev/shm` (so its embedded PostgreSQL
//! writes to memory, not to whatever disk the machine has), a free port on 127.0.0.1, known
//! operator credentials, and an auth rate limit high enough that a flood from one address is
//! not refused. Everything else is Haven's default. At the end it gets SIGTERM, as an operator
//! would send, and the directory is removed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use hyper::StatusCode;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::http::Api;
use crate::memory::Memory;

/// The auth rate limit given to the private Haven: per client IP, `/api/auth/*` allows 100
/// requests per 5 minutes by default, which would stop a login flood from one machine at once.
pub const AUTH_RATE_LIMIT: &str = "1000000000";

/// How long the first start (initdb, migrations, the first signing key) may take.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a graceful stop (drain, stop the cluster) may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A Haven process this tool started.
#[derive(Debug)]
pub struct HavenProcess {
    child: Child,
    pid: i32,
    /// The binary it runs (also for `haven audit verify` beside it).
    bin: PathBuf,
    /// Holds `data/` (Haven's data dir) and `haven.log` (its output).
    root: PathBuf,
    url: String,
}

impl HavenProcess {
    /// Starts `bin` with the operator `email`/`password`, a database pool of `pool` connections
    /// and the `extra` settings (`HAVEN_*` pairs, `--haven-env`), and waits until `GET /ready` is
    /// 200.
    pub async fn start(
        bin: &Path,
        email: &str,
        password: &str,
        pool: u16,
        extra: &[(String, String)],
    ) -> anyhow::Result<Self> {
        if !bin.is_file() {
            bail!(
                "no haven binary at {} (build it: cargo build --release -p haven, or pass --haven-bin)",
                bin.display()
            );
        }
        let root = fresh_root()?;
        let data = root.join("data");
        make_dir(&data)?;
        let log = std::fs::File::create(root.join("haven.log"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = haven_command(bin, &data);
        command
            .arg("serve")
            .env("HAVEN_BIND", format!("127.0.0.1:{port}"))
            .env("HAVEN_METRICS_BIND", "off")
            .env("HAVEN_AUTH_RATE_LIMIT", AUTH_RATE_LIMIT)
            .env("HAVEN_DB_MAX_CONNECTIONS", pool.to_string())
            .env("HAVEN_BOOTSTRAP_EMAIL", email)
            .env("HAVEN_BOOTSTRAP_PASSWORD", password)
            .envs(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&root);
                return Err(error).with_context(|| format!("starting {}", bin.display()));
            }
        };
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .context("the haven process has no pid")?;
        let mut process = Self {
            child,
            pid,
            bin: bin.to_owned(),
            root,
            url: format!("http://127.0.0.1:{port}"),
        };
        if let Err(error) = process.wait_ready().await {
            let log = process.log_tail();
            process.stop().await;
            return Err(error.context(format!("haven's output ends with:\n{log}")));
        }
        Ok(process)
    }

    /// The base URL it serves.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The haven process's id.
    #[must_use]
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Its `HAVEN_DATA_DIR`: the embedded cluster in `pg/`, its socket in `run/`.
    #[must_use]
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// A directory of this run for scratch files (removed with the data at the end).
    #[must_use]
    pub fn scratch_dir(&self) -> &Path {
        &self.root
    }

    /// Its PostgreSQL postmaster's id, from `postmaster.pid` (embedded mode).
    #[must_use]
    pub fn postmaster_pid(&self) -> Option<i32> {
        postmaster_pid(&self.root.join("data/pg"))
    }

    /// The process's memory right now (not its PostgreSQL's, which are other processes).
    pub fn memory(&self) -> anyhow::Result<Memory> {
        Memory::of_pid(self.pid)
    }

    /// A `haven` command on the same data directory (e.g. `audit verify`, which attaches to
    /// the running cluster), configured like the server.
    #[must_use]
    pub fn command(&self) -> Command {
        haven_command(&self.bin, &self.data_dir())
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let api = Api::new(&self.url)?;
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("haven exited during start-up ({status})");
            }
            if let Ok(answer) = api.get("/ready").await
                && answer.status == StatusCode::OK
            {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("haven was not ready after {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, wait for the graceful stop (SIGKILL after a minute), then remove the data.
    /// Problems are reported on stderr, not returned: the figures are already measured.
    pub async fn stop(mut self) {
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGTERM);
        let graceful = tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await;
        if !matches!(graceful, Ok(Ok(status)) if status.success()) {
            eprintln!("haven-bench: haven did not stop cleanly ({graceful:?}); killing it");
            let _ = self.child.kill().await;
            stop_orphan_cluster(&self.root.join("data/pg")).await;
        }
        if let Err(error) = std::fs::remove_dir_all(&self.root) {
            eprintln!(
                "haven-bench: could not remove {}: {error}",
                self.root.display()
            );
        }
    }

    /// The last lines of Haven's output, for an error message.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.root.join("haven.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// `bin` on the data directory `data`, quiet. Only what is set here configures it, not what the
/// caller's shell happens to export.
fn haven_command(bin: &Path, data: &Path) -> Command {
    let mut command = Command::new(bin);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HAVEN_") {
            command.env_remove(key);
        }
    }
    command.env("HAVEN_DATA_DIR", data).env("HAVEN_LOG", "warn");
    command
}

/// `/dev/shm/haven-bench-<pid>-<nanos>`, new and empty.
fn fresh_root() -> anyhow::Result<PathBuf> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let root = PathBuf::from(format!(
        "/dev/shm/haven-bench-{}-{nanos}",
        std::process::id()
    ));
    make_dir(&root)?;
    Ok(root)
}

/// Creates `dir` with mode 0755: the embedded cluster runs as the `postgres` user when Haven
/// runs as root, and must be able to reach its own directory inside.
fn make_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// The first line of `<pg>/postmaster.pid`.
fn postmaster_pid(pg: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(pg.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// After a SIGKILLed Haven, its PostgreSQL is still running from a directory about to be
/// removed: ask it for an immediate shutdown (SIGQUIT) and give it a few seconds.
async fn stop_orphan_cluster(pg: &Path) {
    let Ok(text) = std::fs::read_to_string(pg.join("postmaster.pid")) else {
        return;
    };
    let Some(pid) = text
        .lines()
        .next()
        .and_then(|line| line.trim().parse().ok())
    else {
        return;
    };
    let pid = Pid::from_raw(pid);
    if kill(pid, Signal::SIGQUIT).is_err() {
        return;
    }
    for _ in 0..50 {
        if kill(pid, None).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("haven-bench: PostgreSQL {pid} is still running");
}
