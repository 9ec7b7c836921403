//! The crate's error type.
//!
//! Every message is written for a person reading a terminal or a log: it says
//! what went wrong, names the path, user or command involved, and where there is
//! an obvious fix, suggests it.

use std::path::PathBuf;

/// Everything that can go wrong while finding binaries or running a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No usable PostgreSQL installation was found in any of the usual places.
    #[error(
        "PostgreSQL server binaries (version {min} or newer) were not found on PATH, via pg_config, \
         or under /usr/lib/postgresql/*/bin. Install the Debian package `postgresql` \
         (for example `apt-get install postgresql-15`), or set HAVEN_PG_BIN_DIR, or set \
         HAVEN_DATABASE_URL to use an external database.{}",
        too_old_note(.too_old),
        min = crate::binaries::MIN_MAJOR_VERSION
    )]
    BinariesNotFound {
        /// Installations that were found but skipped for being older than the minimum:
        /// `(bin_dir, major_version)`.
        too_old: Vec<(PathBuf, u32)>,
    },

    /// The explicitly requested binary directory does not hold a usable installation.
    #[error(
        "The PostgreSQL binary directory {} is not usable: {problem}. It must be the `bin` directory \
         of a PostgreSQL {min} or newer server installation (on Debian, for example \
         /usr/lib/postgresql/15/bin from the package `postgresql`).",
        dir.display(),
        min = crate::binaries::MIN_MAJOR_VERSION
    )]
    UnusableBinDir {
        /// The directory that was asked for.
        dir: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// The Unix socket path would not fit into `sockaddr_un.sun_path`.
    #[error(
        "The PostgreSQL socket path {} is {len} bytes long, but Unix socket paths must be shorter \
         than {limit} bytes. Choose a shorter socket directory.",
        path.display()
    )]
    SocketPathTooLong {
        /// The full socket path, `<socket_dir>/.s.PGSQL.<port>`.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The exclusive upper bound on the length.
        limit: usize,
    },

    /// We run as root, so the server runs as an unprivileged user, who cannot
    /// get through one of the directories on the way to its files.
    #[error(
        "PostgreSQL refuses to run as root, so its server runs as the user `{user}`, but `{user}` \
         cannot enter the directory {} (owner uid {owner}, mode {mode:04o}). Choose a data and \
         socket directory that `{user}` can reach (for example under /var/lib or /tmp), or allow \
         it with `chmod o+x {}`.",
        dir.display(),
        dir.display()
    )]
    DirNotSearchable {
        /// The directory that blocks the way.
        dir: PathBuf,
        /// The unprivileged user the server runs as.
        user: String,
        /// The directory's owner.
        owner: u32,
        /// The directory's permission bits.
        mode: u32,
    },

    /// We run as root but there is no unprivileged user to run the server as.
    #[error(
        "PostgreSQL refuses to run as root, and neither the user `postgres` nor `nobody` exists \
         to run it as. Create a `postgres` user (the Debian package `postgresql` does) or run \
         Haven as a non-root user."
    )]
    NoUnprivilegedUser,

    /// Looking up a user in the user database failed.
    #[error("Could not look up the user `{name}`: {source}")]
    UserLookup {
        /// The user name.
        name: String,
        /// The lookup error.
        source: nix::Error,
    },

    /// The data directory holds something other than a PostgreSQL cluster.
    #[error(
        "The database directory {} is not empty and does not contain a PostgreSQL cluster \
         (there is no PG_VERSION file). Refusing to touch it; choose an empty or new directory.",
        dir.display()
    )]
    NotACluster {
        /// The data directory.
        dir: PathBuf,
    },

    /// The cluster was created by a different PostgreSQL major version.
    #[error(
        "The database in {} was created by PostgreSQL {cluster_major}, but the server binaries in \
         {} are PostgreSQL {binaries_major}. Install PostgreSQL {cluster_major} (and point Haven at \
         its binaries), or upgrade the database with pg_upgrade.",
        dir.display(),
        bin_dir.display()
    )]
    VersionMismatch {
        /// The data directory.
        dir: PathBuf,
        /// The major version recorded in the cluster's PG_VERSION.
        cluster_major: String,
        /// Where the binaries are.
        bin_dir: PathBuf,
        /// The binaries' major version.
        binaries_major: u32,
    },

    /// The data directory belongs to a user other than the one the server runs as.
    #[error(
        "The database directory {} belongs to uid {owner}, but the PostgreSQL server runs as \
         `{user}` (uid {uid}) and PostgreSQL only starts on a data directory owned by its own \
         user. Change the owner (for example `chown -R {user} {}`) or use another directory.",
        dir.display(),
        dir.display()
    )]
    DataDirOwner {
        /// The data directory.
        dir: PathBuf,
        /// Its current owner.
        owner: u32,
        /// The user the server runs as.
        user: String,
        /// That user's uid.
        uid: u32,
    },

    /// A server setting has a name or value that cannot be written safely.
    #[error("Invalid PostgreSQL setting `{key}`: {problem}")]
    InvalidSetting {
        /// The setting's name.
        key: String,
        /// What is wrong with it.
        problem: String,
    },

    /// A filesystem operation failed.
    #[error("Could not {action} {}: {source}", path.display())]
    Io {
        /// What we were doing, e.g. "create the directory".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A PostgreSQL command could not be run or exited unsuccessfully.
    #[error("`{command}` failed ({status}): {output}")]
    CommandFailed {
        /// The command, e.g. `initdb` or `pg_ctl stop`.
        command: String,
        /// The exit status, or why it could not be started.
        status: String,
        /// Its trimmed error output (or standard output when that is all there is).
        output: String,
    },

    /// The server did not start.
    #[error(
        "The PostgreSQL server did not start: {reason}\nLast lines of the server log {}:\n{log_tail}",
        log_file.display()
    )]
    StartFailed {
        /// What `pg_ctl` said.
        reason: String,
        /// The server log.
        log_file: PathBuf,
        /// The last lines of that log.
        log_tail: String,
    },

    /// The server could not be stopped even with an immediate shutdown.
    #[error("The PostgreSQL server for {} could not be stopped: {reason}", data_dir.display())]
    StopFailed {
        /// The data directory.
        data_dir: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Mentions the installations skipped for being too old, so that a person who
/// has PostgreSQL 13 installed learns why it was not used.
fn too_old_note(too_old: &[(PathBuf, u32)]) -> String {
    if too_old.is_empty() {
        return String::new();
    }
    let found: Vec<String> = too_old
        .iter()
        .map(|(dir, major)| format!("PostgreSQL {major} in {}", dir.display()))
        .collect();
    format!(" (Skipped as too old: {}.)", found.join(", "))
}

impl Error {
    /// Shorthand for [`Error::Io`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}
