//! Reading `postmaster.pid` and telling a live postmaster from a stale file.
//!
//! A postmaster that is killed (or whose container is stopped) leaves its
//! `postmaster.pid` behind. PostgreSQL itself only checks whether the PID in
//! it is alive, which misfires after PID reuse: in a container the PID is
//! often taken by some unrelated process on the next boot, and the server then
//! refuses to start. We therefore also look at what the process is.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use crate::Error;

/// The lock file PostgreSQL keeps in the data directory.
pub(crate) const PID_FILE: &str = "postmaster.pid";

/// What `postmaster.pid` says, as far as we use it. Its lines are: PID, data
/// directory, start time, port, first socket directory, listen address,
/// shared memory key, and status (`starting`, `stopping`, `ready`, `standby`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PidFile {
    pub(crate) pid: i32,
    pub(crate) port: Option<u16>,
    pub(crate) socket_dir: Option<PathBuf>,
    pub(crate) status: Option<String>,
}

impl PidFile {
    /// Parses the file's contents; `None` if even the PID is unreadable.
    pub(crate) fn parse(text: &str) -> Option<PidFile> {
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        // Very old servers wrote a negative PID for single-user mode.
        let pid = lines.first()?.parse::<i32>().ok()?.checked_abs()?;
        let port = lines.get(3).and_then(|l| l.parse().ok());
        let socket_dir = lines.get(4).filter(|l| !l.is_empty()).map(PathBuf::from);
        let status = lines
            .get(7)
            .filter(|l| !l.is_empty())
            .map(|l| (*l).to_owned());
        Some(PidFile {
            pid,
            port,
            socket_dir,
            status,
        })
    }

    /// Whether the postmaster reports that it accepts connections.
    pub(crate) fn is_ready(&self) -> bool {
        self.status.as_deref() == Some("ready")
    }
}

/// The state of the postmaster of one data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Postmaster {
    /// No `postmaster.pid`.
    Absent,
    /// A `postmaster.pid` whose process is gone, or is not a postmaster for
    /// this data directory (or the file is unreadable garbage).
    Stale,
    /// A live postmaster for this data directory.
    Running(PidFile),
}

/// Looks at `<data_dir>/postmaster.pid` and the process it names.
pub(crate) fn inspect(data_dir: &Path) -> Result<Postmaster, Error> {
    let path = data_dir.join(PID_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Postmaster::Absent),
        Err(e) => return Err(Error::io("read", path)(e)),
    };
    let Some(file) = PidFile::parse(&text) else {
        return Ok(Postmaster::Stale);
    };
    Ok(match process(file.pid) {
        Process::Postgres { cwd } if cwd_matches(cwd.as_deref(), data_dir) => {
            Postmaster::Running(file)
        }
        _ => Postmaster::Stale,
    })
}

/// A postmaster changes into its data directory. If we cannot see the
/// process's working directory we give it the benefit of the doubt.
fn cwd_matches(cwd: Option<&Path>, data_dir: &Path) -> bool {
    match (cwd, data_dir.canonicalize()) {
        (Some(cwd), Ok(data_dir)) => cwd == data_dir,
        _ => true,
    }
}

/// What a PID currently refers to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Process {
    /// No such process, or only a zombie left of it.
    Dead,
    /// Some process that is not PostgreSQL (the PID was reused).
    Other,
    /// A PostgreSQL server process, with its working directory when visible.
    Postgres { cwd: Option<PathBuf> },
}

/// Classifies `pid` using `/proc`, or only its liveness where there is no `/proc`.
pub(crate) fn process(pid: i32) -> Process {
    if pid <= 0 {
        return Process::Dead;
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if !Path::new("/proc/self/stat").exists() {
        return match kill(Pid::from_raw(pid), None) {
            Ok(()) | Err(Errno::EPERM) => Process::Postgres { cwd: None },
            Err(_) => Process::Dead,
        };
    }
    // `stat` is "pid (comm) state ...": the name is in parentheses and may
    // itself contain them, so split at the last ')'.
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return Process::Dead;
    };
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return Process::Dead;
    };
    let name = stat.get(open + 1..close).unwrap_or_default();
    let state = stat.get(close + 1..).unwrap_or_default().trim_start();
    if state.starts_with('Z') || state.starts_with('X') {
        return Process::Dead;
    }
    if !matches!(name, "postgres" | "postmaster") {
        return Process::Other;
    }
    Process::Postgres {
        cwd: std::fs::read_link(proc_dir.join("cwd")).ok(),
    }
}

/// Removes a stale lock file (ignoring one that is already gone).
pub(crate) fn remove(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io("remove the stale lock file", path)(e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pid_file() {
        let text = "4242\n/var/lib/pg\n1700000000\n5433\n/run/haven\n\n  123456  789\nready   \n";
        let file = PidFile::parse(text).expect("parse");
        assert_eq!(file.pid, 4242);
        assert_eq!(file.port, Some(5433));
        assert_eq!(file.socket_dir.as_deref(), Some(Path::new("/run/haven")));
        assert!(file.is_ready());

        let starting = PidFile::parse("7\n/d\n1\n5432\n/s\n\n1 2\nstarting\n").expect("parse");
        assert!(!starting.is_ready());
        assert_eq!(PidFile::parse(""), None);
        assert_eq!(PidFile::parse("garbage\n"), None);
    }

    #[test]
    fn classifies_processes() {
        assert_eq!(process(4_194_000), Process::Dead);
        assert_eq!(process(0), Process::Dead);
        // The test binary itself is alive but certainly not PostgreSQL.
        assert_eq!(
            process(i32::try_from(std::process::id()).expect("pid fits")),
            Process::Other
        );
    }

    #[test]
    fn missing_pid_file_is_absent() {
        assert_eq!(
            inspect(Path::new("/nonexistent/haven-pg")).expect("inspect"),
            Postmaster::Absent
        );
    }
}
