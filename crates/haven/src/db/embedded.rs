//! Embedded mode: Haven runs its own PostgreSQL cluster from the server binaries installed on the
//! machine, in `<data_dir>/pg`, listening only on a Unix socket in `<data_dir>/run`.
//!
//! `<data_dir>/haven.lock` is held while Haven runs, so two Havens never share one cluster. That
//! also tells a postmaster found running at start-up apart: it was left by a Haven that was
//! killed, and [`haven_pg::Cluster::start`] stops it and starts afresh. When Haven runs as root,
//! haven-pg runs the cluster as an unprivileged user (PostgreSQL refuses root).

use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use haven_pg::{Cluster, ClusterSpec, PgBinaries};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;

/// The socket's port number: with no TCP listener it only names the socket file.
const PORT: u16 = 5432;

/// A running embedded cluster. Stop it with [`EmbeddedDb::stop`].
#[derive(Debug)]
pub struct EmbeddedDb {
    cluster: Cluster,
    /// Held while this process runs the cluster; `None` when attached to another Haven's.
    lock: Option<File>,
}

/// Haven's manifest inside a base backup directory (`haven backup create`).
pub const BACKUP_MANIFEST: &str = "haven-backup.json";

/// Where the embedded cluster's parts are (from the configuration).
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// `HAVEN_PG_BIN_DIR`.
    pub pg_bin_dir: Option<PathBuf>,
    /// `HAVEN_CLUSTERS_DIR`: the cluster's home when the PostgreSQL user cannot enter the data dir.
    pub clusters_dir: PathBuf,
    /// `HAVEN_WAL_ARCHIVE_DIR`: archive every WAL segment there.
    pub wal_archive_dir: Option<PathBuf>,
}

/// The settings that archive every completed WAL segment into `dir` (a path of plain characters,
/// checked by the configuration). A segment is copied under a temporary name, flushed, renamed
/// and its directory flushed: an archived segment is whole and durable. One already there is
/// never overwritten: identical, it counts as archived (a retry after a crash); different, the
/// command fails and the server keeps the segment and retries, which `pg_stat_archiver` shows.
/// A segment is switched at least every 60 s while there are writes, which bounds how much a
/// lost disk can take with it (the RPO).
#[must_use]
pub fn archive_settings(dir: &Path) -> Vec<(String, String)> {
    let d = dir.display();
    vec![
        ("archive_mode".into(), "on".into()),
        (
            "archive_command".into(),
            format!(
                "if [ -f '{d}/%f' ]; then cmp -s '%p' '{d}/%f'; else cp '%p' '{d}/%f.tmp' && \
                 sync '{d}/%f.tmp' && mv '{d}/%f.tmp' '{d}/%f' && sync '{d}'; fi"
            ),
        ),
        ("archive_timeout".into(), "60s".into()),
    ]
}

/// What to do when another Haven already runs the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Refuse (`serve`: one server per data directory).
    Exclusive,
    /// Use its cluster without managing it (`admin`, `keys` commands beside a running server).
    AttachIfRunning,
}

impl EmbeddedDb {
    /// Prepares (initdb on first use) and starts the cluster of `data_dir`, or attaches to
    /// the one a running Haven manages when `sharing` allows. The cluster lives in `data_dir`
    /// unless the PostgreSQL user cannot enter it; then under `clusters_dir` (see
    /// [`cluster_home`]). Blocking.
    pub fn start(
        data_dir: &Path,
        options: &EmbeddedOptions,
        sharing: Sharing,
    ) -> anyhow::Result<Self> {
        // Others may traverse (the cluster may run as another user) but not list it.
        DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let (lock, owned) = take_lock(data_dir, sharing)?;

        let bins = PgBinaries::locate(options.pg_bin_dir.as_deref())?;
        let data_dir = absolute(data_dir)?;
        let home = cluster_home(&data_dir, &options.clusters_dir)?;
        let settings = match &options.wal_archive_dir {
            Some(archive) => {
                haven_pg::ensure_server_dir(archive)?;
                archive_settings(archive)
            }
            None => Vec::new(),
        };
        let (cluster, created) = Cluster::prepare(bins, spec(&home, settings))?;
        if created {
            tracing::info!(data_dir = %data_dir.display(), "initialized the embedded PostgreSQL cluster");
        }
        if !owned {
            tracing::info!(
                "using the embedded PostgreSQL of the Haven running on this data directory"
            );
            return Ok(Self {
                cluster,
                lock: None,
            });
        }
        cluster.start()?;
        tracing::info!(socket_dir = %cluster.socket_dir().display(), "embedded PostgreSQL is running");
        Ok(Self {
            cluster,
            lock: Some(lock),
        })
    }

    /// Takes a base backup of the running cluster into `dest` (see [`Cluster::base_backup`]).
    /// Blocking.
    pub fn base_backup(&self, dest: &Path) -> anyhow::Result<()> {
        self.cluster.base_backup(dest)?;
        Ok(())
    }

    /// Connection options for `role` on `database`, over the cluster's socket.
    #[must_use]
    pub fn connect_options(&self, role: &str, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(self.cluster.socket_dir())
            .port(self.cluster.port())
            .username(role)
            .database(database)
    }

    /// Whether the cluster's server is running.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.cluster.is_running()
    }

    /// Connection options for the cluster's superuser on the `postgres` database.
    #[must_use]
    pub fn superuser_options(&self) -> PgConnectOptions {
        self.connect_options(self.cluster.superuser(), "postgres")
    }

    /// Stops the cluster (fast shutdown: open sessions end, committed work is safe). Blocking.
    pub fn stop(self) -> anyhow::Result<()> {
        if self.lock.is_some() {
            self.cluster.stop()?;
            tracing::info!("embedded PostgreSQL stopped");
        }
        Ok(())
    }
}

/// Opens `<data_dir>/haven.lock` and takes it: answers whether this process owns the cluster
/// (`false`: another Haven runs it and `sharing` allows attaching).
fn take_lock(data_dir: &Path, sharing: Sharing) -> anyhow::Result<(File, bool)> {
    let lock_path = data_dir.join("haven.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    let owned = match lock.try_lock() {
        Ok(()) => true,
        Err(TryLockError::WouldBlock) if sharing == Sharing::AttachIfRunning => false,
        Err(TryLockError::WouldBlock) => bail!(
            "another Haven process is using {}; stop it or choose another HAVEN_DATA_DIR",
            data_dir.display()
        ),
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", lock_path.display()));
        }
    };
    Ok((lock, owned))
}

fn spec(home: &Path, settings: Vec<(String, String)>) -> ClusterSpec {
    ClusterSpec {
        data_dir: home.join("pg"),
        socket_dir: home.join("run"),
        port: PORT,
        superuser: "postgres".into(),
        settings,
        no_sync: false,
    }
}

/// Restores base backup `from` as the cluster of `data_dir` (which must have none yet) and
/// replays the WAL archive `archive`, if given, to `until` (or to its end); then promotes and
/// answers the running cluster: the caller waits for the promotion, then stops it. `from` is
/// copied as the server's user; the recovery settings apply to this run only (haven-pg rewrites
/// its settings at every start). Blocking.
pub fn restore(
    data_dir: &Path,
    options: &EmbeddedOptions,
    from: &Path,
    archive: Option<&Path>,
    until: Option<&str>,
) -> anyhow::Result<EmbeddedDb> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let (lock, _) = take_lock(data_dir, Sharing::Exclusive)?;
    let data_dir = absolute(data_dir)?;
    let home = cluster_home(&data_dir, &options.clusters_dir)?;
    let pg = home.join("pg");
    if pg.exists() && fs::read_dir(&pg).is_ok_and(|mut entries| entries.next().is_some()) {
        bail!(
            "{} already holds a cluster: restore into a new HAVEN_DATA_DIR (nothing was changed)",
            pg.display()
        );
    }
    let bins = PgBinaries::locate(options.pg_bin_dir.as_deref())?;
    haven_pg::copy_as_server(from, &pg)?;
    // Haven's manifest of the backup is not part of the cluster.
    let manifest = pg.join(BACKUP_MANIFEST);
    if manifest.exists() {
        fs::remove_file(&manifest).with_context(|| format!("removing {}", manifest.display()))?;
    }
    let mut settings = Vec::new();
    if let Some(archive) = archive {
        settings.push((
            "restore_command".to_owned(),
            format!("cp '{}/%f' '%p'", archive.display()),
        ));
        if let Some(until) = until {
            settings.push(("recovery_target_time".to_owned(), until.to_owned()));
        }
        settings.push(("recovery_target_action".to_owned(), "promote".to_owned()));
        haven_pg::touch_as_server(&pg.join("recovery.signal"))?;
    }
    let (cluster, _) = Cluster::prepare(bins, spec(&home, settings))?;
    cluster.start()?;
    tracing::info!(cluster = %pg.display(), "restored base backup started; replaying WAL");
    Ok(EmbeddedDb {
        cluster,
        lock: Some(lock),
    })
}

/// Where the cluster of `data_dir` lives: `data_dir` itself (`pg/`, `run/`), unless Haven runs
/// as root and the PostgreSQL user cannot enter `data_dir` (a checkout under `/root`, the usual
/// home of root in a container). Then, rather than asking for `chmod o+x` on someone's home,
/// the cluster lives in `<clusters_dir>/<name>-<hash of the data dir's path>`, a directory only
/// root and the server's user can enter, and the log says so. A cluster already in `data_dir`
/// stays there.
fn cluster_home(data_dir: &Path, clusters_dir: &Path) -> anyhow::Result<PathBuf> {
    if data_dir.join("pg").join("PG_VERSION").exists()
        || haven_pg::server_can_reach(&data_dir.join("pg"))?
    {
        return Ok(data_dir.to_owned());
    }
    let name: String = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .collect();
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let home = clusters_dir.join(format!(
        "{}-{}",
        name.trim_start_matches('.'),
        &hex::encode(digest)[..12]
    ));
    DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(&home)
        .with_context(|| format!("creating {}", home.display()))?;
    if !haven_pg::server_can_reach(&home.join("pg"))? {
        bail!(
            "the PostgreSQL user can enter neither {} nor {}: set HAVEN_DATA_DIR or \
             HAVEN_CLUSTERS_DIR to a directory it can reach",
            data_dir.display(),
            home.display()
        );
    }
    tracing::info!(
        data_dir = %data_dir.display(),
        cluster = %home.display(),
        "the PostgreSQL user cannot enter the data directory: the embedded cluster lives in the \
         clusters directory instead (HAVEN_CLUSTERS_DIR)"
    );
    Ok(home)
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    fs::canonicalize(path).with_context(|| format!("resolving {}", path.display()))
}
