//! End-to-end tests that really run PostgreSQL from the installed binaries.
//!
//! Each test gets its own temporary directory (under /dev/shm when possible,
//! which is fast and reachable by the `postgres` user when we run as root) and
//! its own cluster, and stops that cluster when it ends, even on failure.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use haven_pg::{Cluster, ClusterSpec, Error, PgBinaries};

/// A temporary directory holding one cluster's data and socket directories.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let mut builder = tempfile::Builder::new();
        builder.prefix("haven-pg-test-");
        let dir = builder
            .tempdir_in("/dev/shm")
            .or_else(|_| builder.tempdir_in(std::env::temp_dir()))
            .expect("create a temporary directory");
        // When we are root the server runs as `postgres`, which must be able
        // to traverse this directory.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod the temporary directory");
        Scratch { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn spec(&self) -> ClusterSpec {
        ClusterSpec {
            data_dir: self.path().join("data"),
            socket_dir: self.path().join("sock"),
            port: 5432,
            superuser: "haven".to_owned(),
            settings: vec![
                ("fsync".to_owned(), "off".to_owned()),
                ("synchronous_commit".to_owned(), "off".to_owned()),
                ("full_page_writes".to_owned(), "off".to_owned()),
                ("shared_buffers".to_owned(), "16MB".to_owned()),
            ],
            no_sync: true,
        }
    }
}

/// Stops its cluster when dropped. Declared before the [`Scratch`] in each
/// test so that the server stops before its directory is deleted.
struct StopOnDrop(Cluster);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Err(e) = self.0.stop() {
            eprintln!("could not stop the test cluster: {e}");
        }
    }
}

impl std::ops::Deref for StopOnDrop {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        &self.0
    }
}

fn bins() -> PgBinaries {
    PgBinaries::locate(None).expect("PostgreSQL 15 or newer must be installed")
}

fn prepare(scratch: &Scratch) -> (StopOnDrop, bool) {
    let (cluster, created) = Cluster::prepare(bins(), scratch.spec()).expect("prepare");
    (StopOnDrop(cluster), created)
}

fn postmaster_pid_from_file(data_dir: &Path) -> String {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).expect("postmaster.pid");
    text.lines().next().expect("a PID line").trim().to_owned()
}

#[test]
fn prepare_is_idempotent() {
    let scratch = Scratch::new();
    let (cluster, created) = prepare(&scratch);
    assert!(created);
    assert!(cluster.data_dir().join("PG_VERSION").exists());
    if nix::unistd::geteuid().is_root() {
        assert!(cluster.run_as_user().is_some());
    } else {
        assert_eq!(cluster.run_as_user(), None);
    }
    let (_again, created) = prepare(&scratch);
    assert!(!created);
    assert!(!cluster.is_running());
}

#[test]
fn start_and_stop() {
    let scratch = Scratch::new();
    let (cluster, _) = prepare(&scratch);
    cluster.start().expect("start");
    assert!(cluster.socket_path().exists());
    assert!(cluster.socket_dir().join(".s.PGSQL.5432").exists());
    assert!(cluster.is_running());
    assert!(cluster.postmaster_pid().is_some());
    let log = std::fs::read_to_string(cluster.log_file()).expect("server log");
    assert!(log.contains("ready to accept connections"), "{log}");
    // No TCP listener: the server must not have opened a TCP socket.
    assert!(!log.contains("listening on IPv4"), "{log}");

    cluster.stop().expect("stop");
    assert!(!cluster.is_running());
    assert!(!cluster.socket_path().exists());
    cluster.stop().expect("stopping a stopped cluster is fine");
}

#[test]
fn start_recovers_from_a_killed_owner() {
    let scratch = Scratch::new();
    let (first, _) = prepare(&scratch);
    first.start().expect("first start");
    let first_pid = postmaster_pid_from_file(first.data_dir());

    // The process that started the server "died" without stopping it; a new
    // one prepares the same cluster and starts it again.
    let (second, created) = prepare(&scratch);
    assert!(!created);
    second.start().expect("start over a running server");
    assert!(second.is_running());
    assert_ne!(postmaster_pid_from_file(second.data_dir()), first_pid);
}

#[test]
fn ensure_running_leaves_a_running_server_alone() {
    let scratch = Scratch::new();
    let (cluster, _) = prepare(&scratch);
    cluster
        .ensure_running()
        .expect("ensure_running starts a stopped server");
    assert!(cluster.is_running());
    let pid = postmaster_pid_from_file(cluster.data_dir());

    let (other, _) = prepare(&scratch);
    other
        .ensure_running()
        .expect("ensure_running on a running server");
    assert_eq!(postmaster_pid_from_file(cluster.data_dir()), pid);
    assert_eq!(other.postmaster_pid().map(|p| p.to_string()), Some(pid));
}

#[test]
fn stale_pid_file_is_removed() {
    let scratch = Scratch::new();
    let (cluster, _) = prepare(&scratch);
    cluster.start().expect("start");
    let pid_file = cluster.data_dir().join("postmaster.pid");
    let contents = std::fs::read_to_string(&pid_file).expect("postmaster.pid");
    cluster.stop().expect("stop");
    assert!(!pid_file.exists());

    // As if the server had been killed, and its PID were now unused.
    let mut lines: Vec<&str> = contents.lines().collect();
    lines[0] = "4194000";
    std::fs::write(&pid_file, lines.join("\n") + "\n").expect("write a stale postmaster.pid");
    assert!(!cluster.is_running());

    cluster.start().expect("start over a stale postmaster.pid");
    assert!(cluster.is_running());
    assert_ne!(postmaster_pid_from_file(cluster.data_dir()), "4194000");
}

#[test]
fn stale_pid_file_naming_another_process_is_removed() {
    let scratch = Scratch::new();
    let (cluster, _) = prepare(&scratch);
    cluster.start().expect("start");
    let pid_file = cluster.data_dir().join("postmaster.pid");
    let contents = std::fs::read_to_string(&pid_file).expect("postmaster.pid");
    cluster.stop().expect("stop");

    // PID reuse: the PID now belongs to a live process that is not PostgreSQL
    // (this test process).
    let mut lines: Vec<String> = contents.lines().map(str::to_owned).collect();
    lines[0] = std::process::id().to_string();
    std::fs::write(&pid_file, lines.join("\n") + "\n").expect("write a stale postmaster.pid");

    cluster.ensure_running().expect("start over a reused PID");
    assert!(cluster.is_running());
}

#[test]
fn refuses_foreign_data_dir() {
    let scratch = Scratch::new();
    let spec = scratch.spec();
    std::fs::create_dir_all(&spec.data_dir).expect("create data dir");
    std::fs::write(spec.data_dir.join("precious.txt"), "keep me").expect("write file");
    let err = Cluster::prepare(bins(), spec.clone()).expect_err("not a cluster");
    assert!(matches!(err, Error::NotACluster { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&spec.data_dir.display().to_string()),
        "{err}"
    );
    assert!(spec.data_dir.join("precious.txt").exists());
}

#[test]
fn refuses_cluster_of_another_major_version() {
    let scratch = Scratch::new();
    let spec = scratch.spec();
    std::fs::create_dir_all(&spec.data_dir).expect("create data dir");
    std::fs::write(spec.data_dir.join("PG_VERSION"), "9.6\n").expect("write PG_VERSION");
    let err = Cluster::prepare(bins(), spec).expect_err("version mismatch");
    assert!(matches!(err, Error::VersionMismatch { .. }), "{err}");
    assert!(err.to_string().contains("PostgreSQL 9.6"), "{err}");
}

#[test]
fn rejects_bad_settings_and_long_socket_paths() {
    let scratch = Scratch::new();
    let mut spec = scratch.spec();
    spec.settings
        .push(("listen_addresses".to_owned(), "*".to_owned()));
    let err = Cluster::prepare(bins(), spec).expect_err("reserved setting");
    assert!(matches!(err, Error::InvalidSetting { .. }), "{err}");

    let mut spec = scratch.spec();
    spec.socket_dir = scratch.path().join("s".repeat(100));
    let err = Cluster::prepare(bins(), spec).expect_err("socket path too long");
    assert!(matches!(err, Error::SocketPathTooLong { .. }), "{err}");
    assert!(err.to_string().contains(".s.PGSQL.5432"), "{err}");
    // Nothing was created for the refused spec.
    assert!(!scratch.path().join("data").exists());
}

#[test]
fn root_refuses_unreachable_directories() {
    if !nix::unistd::geteuid().is_root() {
        return; // Only root switches users.
    }
    let scratch = Scratch::new();
    let private: PathBuf = scratch.path().join("private");
    std::fs::create_dir(&private).expect("create private dir");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700))
        .expect("chmod private dir");
    let mut spec = scratch.spec();
    spec.data_dir = private.join("data");
    let err = Cluster::prepare(bins(), spec).expect_err("unreachable data dir");
    let msg = err.to_string();
    assert!(matches!(err, Error::DirNotSearchable { .. }), "{msg}");
    assert!(msg.contains(&private.display().to_string()), "{msg}");
    assert!(msg.contains("chmod o+x"), "{msg}");
    assert!(!private.join("data").exists());
}

#[test]
fn start_failure_shows_the_server_log() {
    let scratch = Scratch::new();
    let mut spec = scratch.spec();
    spec.settings
        .push(("shared_buffers".to_owned(), "plenty".to_owned()));
    let (cluster, _) = Cluster::prepare(bins(), spec).expect("prepare");
    let cluster = StopOnDrop(cluster);
    let err = cluster.start().expect_err("a bad setting stops the server");
    let msg = err.to_string();
    assert!(matches!(err, Error::StartFailed { .. }), "{msg}");
    assert!(
        msg.contains("invalid value for parameter \"shared_buffers\""),
        "{msg}"
    );
    assert!(!cluster.is_running());
}

#[test]
fn concurrent_users_share_one_cluster() {
    let scratch = Scratch::new();
    let results: Vec<(Cluster, bool)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let (cluster, created) =
                        Cluster::prepare(bins(), scratch.spec()).expect("prepare");
                    cluster.ensure_running().expect("ensure_running");
                    (cluster, created)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    let created = results.iter().filter(|(_, created)| *created).count();
    let mut clusters = results.into_iter().map(|(cluster, _)| cluster);
    let cluster = StopOnDrop(clusters.next().expect("a cluster"));
    assert_eq!(created, 1, "exactly one process runs initdb");
    assert!(cluster.is_running());
}
