//! Creating and handing over the directories the server writes to.

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::unistd::geteuid;

use crate::Error;
use crate::run_as::RunAs;

/// Makes sure `dir` exists as a private directory of the server's user.
///
/// A missing directory is created with mode 0700. An existing empty one is
/// taken over the same way (chmod 0700, and chown when we are root), since it
/// was evidently made for us, e.g. by a test harness. A non-empty existing
/// directory is left exactly as it is: it may be a shared directory that a
/// caller pointed us at, or an existing cluster whose ownership is checked
/// separately.
pub(crate) fn ensure_private_dir(dir: &Path, run_as: Option<&RunAs>) -> Result<(), Error> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io("create the directory", parent))?;
    }
    let created = match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => true,
        // Another process sharing the cluster may have just created it.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => false,
        Err(e) => return Err(Error::io("create the directory", dir)(e)),
    };
    if !created {
        let meta = std::fs::metadata(dir).map_err(Error::io("inspect", dir))?;
        if !meta.is_dir() {
            return Err(Error::io("use as a directory", dir)(std::io::Error::new(
                ErrorKind::AlreadyExists,
                "it exists but is not a directory",
            )));
        }
        let may_adopt = run_as.is_some() || meta.uid() == geteuid().as_raw();
        if !may_adopt || !is_empty(dir)? {
            return Ok(());
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(Error::io("set the permissions of", dir))?;
    if let Some(user) = run_as {
        user.chown(dir)?;
    }
    Ok(())
}

/// Whether `dir` has no entries.
pub(crate) fn is_empty(dir: &Path) -> Result<bool, Error> {
    let mut entries = std::fs::read_dir(dir).map_err(Error::io("list", dir))?;
    Ok(entries.next().is_none())
}
