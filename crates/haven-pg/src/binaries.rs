//! Finding the PostgreSQL server programs installed on the machine.
//!
//! Debian does not put `initdb` or `postgres` on `PATH` (they live in
//! `/usr/lib/postgresql/<major>/bin`), so besides `PATH` we ask `pg_config`
//! and finally look in that directory ourselves.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::run_as;

/// The oldest PostgreSQL major version we run.
pub const MIN_MAJOR_VERSION: u32 = 15;

/// The programs a directory must contain to be usable.
const REQUIRED_PROGRAMS: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// Where Debian installs each PostgreSQL major version.
const DEBIAN_LIB_DIR: &str = "/usr/lib/postgresql";

/// A directory holding PostgreSQL's server programs, and their major version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBinaries {
    bin_dir: PathBuf,
    major_version: u32,
}

/// Why a candidate directory was not used.
enum Rejection {
    /// It lacks a program, or `postgres --version` did not work.
    Unusable(String),
    /// It works but is older than [`MIN_MAJOR_VERSION`]: `(bin_dir, major)`.
    TooOld(PathBuf, u32),
}

impl PgBinaries {
    /// Finds `initdb`, `pg_ctl` and `postgres` of PostgreSQL 15 or newer.
    ///
    /// With `explicit`, only that directory is considered and any problem with
    /// it is an error. Otherwise the search order is: the directories on
    /// `PATH`, the directory named by `pg_config --bindir` (with `pg_config`
    /// found on `PATH`), then `/usr/lib/postgresql/*/bin`, highest major
    /// version first. Installations older than version 15 are skipped.
    pub fn locate(explicit: Option<&Path>) -> Result<PgBinaries, Error> {
        if let Some(dir) = explicit {
            let dir = run_as::absolute(dir)?;
            return Self::probe(&dir).map_err(|rejection| Error::UnusableBinDir {
                problem: match rejection {
                    Rejection::Unusable(problem) => problem,
                    Rejection::TooOld(_, major) => format!(
                        "it holds PostgreSQL {major}, which is older than the minimum \
                         {MIN_MAJOR_VERSION}"
                    ),
                },
                dir,
            });
        }
        // Lazy, so that pg_config only runs when PATH had nothing.
        let candidates = path_dirs()
            .into_iter()
            .chain(std::iter::once_with(pg_config_bindir).flatten())
            .chain(std::iter::once_with(debian_bin_dirs).flatten());
        Self::locate_among(candidates)
    }

    /// Returns the first usable, new enough installation among `candidates`,
    /// or [`Error::BinariesNotFound`] (mentioning the too-old ones skipped).
    pub(crate) fn locate_among(
        candidates: impl IntoIterator<Item = PathBuf>,
    ) -> Result<PgBinaries, Error> {
        let mut seen = HashSet::new();
        let mut too_old = Vec::new();
        for dir in candidates {
            if !seen.insert(dir.clone()) {
                continue;
            }
            match Self::probe(&dir) {
                Ok(bins) => {
                    tracing::debug!(bin_dir = %dir.display(), major = bins.major_version, "found PostgreSQL");
                    return Ok(bins);
                }
                Err(Rejection::TooOld(dir, major)) => {
                    tracing::debug!(bin_dir = %dir.display(), major, "skipping old PostgreSQL");
                    if !too_old.iter().any(|(seen, _)| *seen == dir) {
                        too_old.push((dir, major));
                    }
                }
                Err(Rejection::Unusable(_)) => {}
            }
        }
        Err(Error::BinariesNotFound { too_old })
    }

    /// Checks that `dir` has the required programs and a recent enough `postgres`.
    fn probe(dir: &Path) -> Result<PgBinaries, Rejection> {
        for program in REQUIRED_PROGRAMS {
            if !is_executable(&dir.join(program)) {
                return Err(Rejection::Unusable(format!(
                    "it has no executable `{program}`"
                )));
            }
        }
        let postgres = dir.join("postgres");
        // `postgres --version` answers before its refusal to run as root, so
        // there is no need to switch users here.
        let mut cmd = run_as::command(&postgres, None, Path::new("/"));
        let output = run_as::run("postgres --version", cmd.arg("--version"))
            .map_err(|e| Rejection::Unusable(e.to_string()))?;
        let text = String::from_utf8_lossy(&output.stdout);
        let major = parse_major_version(&text).ok_or_else(|| {
            Rejection::Unusable(format!(
                "`postgres --version` printed an unexpected version: {}",
                text.trim()
            ))
        })?;
        let bin_dir = resolve_symlinked_dir(dir, &postgres);
        if major < MIN_MAJOR_VERSION {
            return Err(Rejection::TooOld(bin_dir, major));
        }
        Ok(PgBinaries {
            bin_dir,
            major_version: major,
        })
    }

    /// The directory holding `initdb`, `pg_ctl` and `postgres`.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The major version, e.g. 15.
    pub fn major_version(&self) -> u32 {
        self.major_version
    }

    /// The full path of one of the programs in [`Self::bin_dir`].
    pub(crate) fn program(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// Parses the major version out of `postgres --version` output such as
/// `postgres (PostgreSQL) 15.19 (Debian 15.19-0+deb12u1)` or `... 17devel`.
pub(crate) fn parse_major_version(text: &str) -> Option<u32> {
    let version = text
        .split("(PostgreSQL)")
        .nth(1)?
        .split_whitespace()
        .next()?;
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Installations often put symlinks on `PATH` (e.g. `/usr/local/bin/initdb`
/// pointing into `/usr/lib/postgresql/15/bin`). When `postgres` is such a
/// symlink and its real directory holds all the programs, that directory is
/// the installation and is what we report and use.
fn resolve_symlinked_dir(dir: &Path, postgres: &Path) -> PathBuf {
    let real_dir = postgres
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    match real_dir {
        Some(real)
            if REQUIRED_PROGRAMS
                .iter()
                .all(|p| is_executable(&real.join(p))) =>
        {
            real
        }
        _ => dir.to_path_buf(),
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The absolute directories on `PATH`, in order.
fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .filter(|dir| dir.is_absolute())
                .collect()
        })
        .unwrap_or_default()
}

/// The directory `pg_config --bindir` names, with `pg_config` from `PATH`.
fn pg_config_bindir() -> Option<PathBuf> {
    let pg_config = path_dirs()
        .into_iter()
        .map(|dir| dir.join("pg_config"))
        .find(|p| is_executable(p))?;
    let mut cmd = run_as::command(&pg_config, None, Path::new("/"));
    let output = run_as::run("pg_config --bindir", cmd.arg("--bindir")).ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    dir.is_absolute().then_some(dir)
}

/// `/usr/lib/postgresql/<major>/bin` for every installed major, highest first.
fn debian_bin_dirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(DEBIAN_LIB_DIR) else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            parse_major_version("postgres (PostgreSQL) 15.19 (Debian 15.19-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(
            parse_major_version("postgres (PostgreSQL) 17devel"),
            Some(17)
        );
        assert_eq!(
            parse_major_version("postgres (PostgreSQL) 16beta2"),
            Some(16)
        );
        assert_eq!(parse_major_version("postgres (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(parse_major_version("something else 15.2"), None);
    }

    #[test]
    fn locate_finds_a_recent_server() {
        let bins = PgBinaries::locate(None).expect("PostgreSQL >= 15 must be installed");
        assert!(bins.major_version() >= MIN_MAJOR_VERSION);
        assert!(bins.bin_dir().join("initdb").exists());
    }

    #[test]
    fn explicit_dir_is_used() {
        let found = PgBinaries::locate(None).expect("PostgreSQL >= 15 must be installed");
        let explicit = PgBinaries::locate(Some(found.bin_dir())).expect("explicit dir");
        assert_eq!(explicit, found);
    }

    #[test]
    fn symlinked_programs_resolve_to_the_installation() {
        let found = PgBinaries::locate(None).expect("PostgreSQL >= 15 must be installed");
        let links = tempfile::tempdir().expect("temp dir");
        for program in REQUIRED_PROGRAMS {
            std::os::unix::fs::symlink(found.bin_dir().join(program), links.path().join(program))
                .expect("symlink");
        }
        let via_links =
            PgBinaries::locate_among([links.path().to_path_buf()]).expect("locate via symlinks");
        assert_eq!(
            via_links.bin_dir(),
            found.bin_dir().canonicalize().expect("canonical")
        );
    }

    #[test]
    fn wrong_explicit_dir_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let empty = dir.path();
        let err = PgBinaries::locate(Some(empty)).expect_err("temp dir has no initdb");
        let msg = err.to_string();
        assert!(matches!(err, Error::UnusableBinDir { .. }), "{msg}");
        assert!(msg.contains("no executable `initdb`"), "{msg}");
        assert!(msg.contains(&empty.display().to_string()), "{msg}");

        let err =
            PgBinaries::locate(Some(Path::new("/nonexistent/haven-pg"))).expect_err("missing dir");
        assert!(err.to_string().contains("/nonexistent/haven-pg"), "{err}");
    }

    #[test]
    fn not_found_message_names_the_debian_package() {
        let dir = tempfile::tempdir().expect("temp dir");
        let empty = dir.path().to_path_buf();
        let err = PgBinaries::locate_among([empty.clone(), empty]).expect_err("nothing there");
        let msg = err.to_string();
        assert!(matches!(err, Error::BinariesNotFound { .. }), "{msg}");
        assert!(msg.contains("version 15 or newer"), "{msg}");
        assert!(msg.contains("Debian package `postgresql`"), "{msg}");
        assert!(msg.contains("apt-get install postgresql-15"), "{msg}");
        assert!(!msg.contains("Skipped"), "{msg}");
    }

    #[test]
    fn not_found_message_mentions_old_versions() {
        let err = Error::BinariesNotFound {
            too_old: vec![(PathBuf::from("/usr/lib/postgresql/13/bin"), 13)],
        };
        assert!(
            err.to_string()
                .ends_with("(Skipped as too old: PostgreSQL 13 in /usr/lib/postgresql/13/bin.)"),
            "{err}"
        );
    }
}
