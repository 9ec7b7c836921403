//! Which OS user the PostgreSQL programs run as, and how they are spawned.
//!
//! PostgreSQL refuses to run as root. When we are root, every PostgreSQL
//! program therefore runs as an unprivileged user (`postgres` if it exists,
//! else `nobody`), and the directories it writes to are handed to that user.
//! When we are not root, the programs simply run as us.

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nix::unistd::{Gid, Uid, User, geteuid};

use crate::Error;

/// Users to run PostgreSQL as when we are root, in order of preference.
const CANDIDATE_USERS: [&str; 2] = ["postgres", "nobody"];

/// `PATH` for child processes when we have none ourselves.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An unprivileged user that PostgreSQL programs run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunAs {
    pub(crate) name: String,
    pub(crate) uid: Uid,
    pub(crate) gid: Gid,
}

impl RunAs {
    /// `None` when we are not root (run as ourselves); otherwise the user to switch to.
    pub(crate) fn detect() -> Result<Option<RunAs>, Error> {
        if !geteuid().is_root() {
            return Ok(None);
        }
        for name in CANDIDATE_USERS {
            let user = User::from_name(name).map_err(|source| Error::UserLookup {
                name: name.to_owned(),
                source,
            })?;
            // A `postgres` entry mapped to uid 0 would not help: the server would still refuse.
            if let Some(user) = user.filter(|u| !u.uid.is_root()) {
                return Ok(Some(RunAs {
                    name: user.name,
                    uid: user.uid,
                    gid: user.gid,
                }));
            }
        }
        Err(Error::NoUnprivilegedUser)
    }

    /// Gives `path` to this user (used for directories and files we create for the server).
    pub(crate) fn chown(&self, path: &Path) -> Result<(), Error> {
        std::os::unix::fs::chown(path, Some(self.uid.as_raw()), Some(self.gid.as_raw()))
            .map_err(Error::io("change the owner of", path))
    }

    /// Checks that this user can traverse every directory leading to `path`
    /// (not `path` itself, which we hand over to the user).
    ///
    /// Checked on the path as given and on its resolved form, so that both the
    /// directories holding symlinks and the ones they point into are covered.
    /// Only the classic permission bits are considered; ACLs are ignored.
    pub(crate) fn check_reachable(&self, path: &Path) -> Result<(), Error> {
        let mut dirs: Vec<PathBuf> = ancestors(path);
        if let Ok(resolved) = path.canonicalize() {
            dirs.extend(ancestors(&resolved));
        }
        for dir in dirs {
            let meta = match std::fs::metadata(&dir) {
                Ok(meta) => meta,
                // Not there (yet): it will be created by us, or the server reports it.
                Err(_) => continue,
            };
            if !self.can_search(meta.uid(), meta.gid(), meta.mode()) {
                return Err(Error::DirNotSearchable {
                    dir,
                    user: self.name.clone(),
                    owner: meta.uid(),
                    mode: meta.permissions().mode() & 0o7777,
                });
            }
        }
        Ok(())
    }

    /// Whether this user may search (`x`) a directory with the given owner,
    /// group and mode. As in the kernel, only the first matching class counts:
    /// an owner without `u+x` is refused even if `o+x` is set. Supplementary
    /// groups do not matter because they are dropped when we switch users.
    fn can_search(&self, owner: u32, group: u32, mode: u32) -> bool {
        if owner == self.uid.as_raw() {
            mode & 0o100 != 0
        } else if group == self.gid.as_raw() {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        }
    }
}

/// The proper ancestors of an absolute path, root first.
fn ancestors(path: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = path
        .ancestors()
        .skip(1)
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .collect();
    dirs.reverse();
    dirs
}

/// Turns a relative path into an absolute one (without resolving symlinks),
/// because the server needs absolute paths and runs in another directory.
pub(crate) fn absolute(path: &Path) -> Result<PathBuf, Error> {
    if path.is_absolute() {
        return Ok(normalize(path));
    }
    let cwd = std::env::current_dir().map_err(Error::io("determine the current directory", "."))?;
    Ok(normalize(&cwd.join(path)))
}

/// Drops `.` components and trailing slashes, so paths compare and print cleanly.
fn normalize(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// Builds a [`Command`] for a PostgreSQL program with a clean environment,
/// running as `run_as` when set.
///
/// The environment is cleared so that nothing from ours (in particular `PG*`
/// variables such as `PGDATA`, `PGPORT` or `PGPASSWORD`) changes what the
/// programs do. The working directory is `/`, which every user can enter,
/// because the switched user usually cannot read root's current directory.
pub(crate) fn command(program: &Path, run_as: Option<&RunAs>, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
        )
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .env("HOME", home)
        .current_dir("/")
        .stdin(Stdio::null());
    if let Some(user) = run_as {
        // std drops all supplementary groups when root sets the uid.
        cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        cmd.env("USER", &user.name).env("LOGNAME", &user.name);
    }
    cmd
}

/// Runs `cmd` to completion, capturing its output, and turns a failure
/// (including a non-zero exit) into [`Error::CommandFailed`] naming `name`.
pub(crate) fn run(name: &str, cmd: &mut Command) -> Result<Output, Error> {
    tracing::debug!(
        command = name,
        program = %Path::new(cmd.get_program()).display(),
        args = ?cmd.get_args().collect::<Vec<&OsStr>>(),
        "running PostgreSQL command"
    );
    let output = cmd.output().map_err(|e| Error::CommandFailed {
        command: name.to_owned(),
        status: "could not be started".to_owned(),
        output: e.to_string(),
    })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(Error::CommandFailed {
            command: name.to_owned(),
            status: output.status.to_string(),
            output: describe_output(&output),
        })
    }
}

/// The trimmed error output of a command, or its standard output when the
/// error output is empty.
pub(crate) fn describe_output(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stderr = stderr.trim();
    if !stderr.is_empty() {
        return stderr.to_owned();
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.trim() {
        "" => "(no output)".to_owned(),
        stdout => stdout.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> RunAs {
        RunAs {
            name: "postgres".to_owned(),
            uid: Uid::from_raw(101),
            gid: Gid::from_raw(104),
        }
    }

    #[test]
    fn search_permission_uses_first_matching_class() {
        let u = user();
        assert!(u.can_search(101, 0, 0o700));
        assert!(
            !u.can_search(101, 0, 0o077),
            "owner bits alone decide for the owner"
        );
        assert!(u.can_search(0, 104, 0o710));
        assert!(
            !u.can_search(0, 104, 0o701),
            "group bits alone decide for the group"
        );
        assert!(u.can_search(0, 0, 0o701));
        assert!(!u.can_search(0, 0, 0o770));
    }

    #[test]
    fn ancestors_are_listed_root_first() {
        assert_eq!(
            ancestors(Path::new("/a/b/c")),
            vec![
                PathBuf::from("/"),
                PathBuf::from("/a"),
                PathBuf::from("/a/b")
            ]
        );
    }

    #[test]
    fn absolute_paths_are_normalized() {
        assert_eq!(
            absolute(Path::new("/a/./b/")).expect("absolute"),
            PathBuf::from("/a/b")
        );
        assert!(absolute(Path::new("rel")).expect("relative").is_absolute());
    }
}
