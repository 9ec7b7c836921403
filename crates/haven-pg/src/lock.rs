//! A cross-process lock around initdb, start and stop.
//!
//! The test harness has many processes share one cluster, and each of them may
//! call [`crate::Cluster::prepare`] and [`crate::Cluster::ensure_running`] at
//! the same moment. Without a lock two of them could both run initdb, or one
//! could stop the server another is just starting.
//!
//! The lock is an `flock` on a file in the socket directory (which exists
//! before the data directory is initialised). `flock` locks belong to the open
//! file, so they also exclude threads of one process that each take the lock,
//! they are released when the process dies, and, because std opens files with
//! close-on-exec, the server we start does not inherit it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::Error;

/// The lock file's name inside the socket directory.
const LOCK_FILE: &str = ".haven-pg.lock";

/// Holds the lock until dropped.
#[derive(Debug)]
pub(crate) struct ClusterLock {
    _lock: Flock<File>,
}

impl ClusterLock {
    /// Blocks until the lock for the cluster using `socket_dir` is ours.
    pub(crate) fn acquire(socket_dir: &Path) -> Result<ClusterLock, Error> {
        let path = socket_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(Error::io("open the lock file", &path))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| Error::io("lock", &path)(errno.into()))?;
        Ok(ClusterLock { _lock: lock })
    }
}
