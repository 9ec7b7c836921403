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

/// What to do when another Haven already runs the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Refuse (`serve`: one server per data directory).
    Exclusive,
    /// Use its cluster without managing it (`admin`, `keys` commands beside a running server).
    AttachIfRunning,
}

impl EmbeddedDb {
    /// Prepares (initdb on first use) and starts the cluster under `data_dir`, or attaches to
    /// the one a running Haven manages when `sharing` allows. Blocking.
    pub fn start(
        data_dir: &Path,
        pg_bin_dir: Option<&Path>,
        sharing: Sharing,
    ) -> anyhow::Result<Self> {
        // Others may traverse (the cluster may run as another user) but not list it.
        DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
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

        let bins = PgBinaries::locate(pg_bin_dir)?;
        let data_dir = absolute(data_dir)?;
        let (cluster, created) = Cluster::prepare(
            bins,
            ClusterSpec {
                data_dir: data_dir.join("pg"),
                socket_dir: data_dir.join("run"),
                port: PORT,
                superuser: "postgres".into(),
                settings: Vec::new(),
                no_sync: false,
            },
        )?;
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

    /// Connection options for `role` on `database`, over the cluster's socket.
    #[must_use]
    pub fn connect_options(&self, role: &str, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(self.cluster.socket_dir())
            .port(self.cluster.port())
            .username(role)
            .database(database)
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

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    fs::canonicalize(path).with_context(|| format!("resolving {}", path.display()))
}
