//! The real `haven` binary in embedded mode, end to end: first start (initdb, roles, migrations,
//! master key, bootstrap password printed once), a second start that reuses everything, a
//! graceful SIGTERM, and recovery after SIGKILL left the cluster running.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) address: String,
    pub(crate) stdout: Arc<Mutex<String>>,
    pub(crate) stderr: Arc<Mutex<String>>,
}

pub(crate) fn haven(data_dir: &Path, extra: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_haven"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HAVEN_")) {
        command.env_remove(key);
    }
    command
        .env("HAVEN_DATA_DIR", data_dir)
        .env("HAVEN_BIND", "127.0.0.1:0")
        .env("HAVEN_METRICS_BIND", "127.0.0.1:0")
        .env("HAVEN_LOG_FORMAT", "json")
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

async fn start(data_dir: &Path) -> Running {
    start_with(data_dir, &[("HAVEN_BOOTSTRAP_EMAIL", "ops@haven.test")]).await
}

/// Starts the binary and waits until it listens; all its output is kept.
pub(crate) async fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Running {
    let mut child = haven(data_dir, env).spawn().expect("spawn haven");
    let stdout = Arc::new(Mutex::new(String::new()));
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let sink = stdout.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = out.next_line().await {
            let mut text = sink.lock().expect("lock");
            text.push_str(&line);
            text.push('\n');
        }
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut err = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let err_sink = stderr.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = err.next_line().await {
            {
                let mut text = err_sink.lock().expect("lock");
                text.push_str(&line);
                text.push('\n');
            }
            let _ = tx.send(line);
        }
    });
    let address = tokio::time::timeout(Duration::from_secs(90), async {
        let mut seen = Vec::new();
        while let Some(line) = rx.recv().await {
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && event["message"] == "haven is listening"
            {
                return event["address"].as_str().expect("address").to_owned();
            }
            seen.push(line);
        }
        panic!("haven exited before listening:\n{}", seen.join("\n"));
    })
    .await
    .expect("haven listens within 90 s");
    Running {
        child,
        address,
        stdout,
        stderr,
    }
}

/// A minimal HTTP/1.1 GET: the tests need no client library for a few calls.
async fn get(address: &str, path: &str) -> (u16, String) {
    call(address, "GET", path, None, None).await
}

/// A minimal HTTP/1.1 request with an optional bearer token and JSON body.
pub(crate) async fn call(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

pub(crate) async fn stop(mut running: Running, signal: Signal) -> Option<i32> {
    let pid = Pid::from_raw(i32::try_from(running.child.id().expect("pid")).expect("pid fits"));
    kill(pid, signal).expect("signal");
    let status = tokio::time::timeout(Duration::from_secs(60), running.child.wait())
        .await
        .expect("haven exits within 60 s")
        .expect("wait");
    status.code()
}

pub(crate) fn scratch_dir() -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("haven-e2e-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

#[tokio::test]
async fn embedded_mode_starts_restarts_and_recovers_from_a_kill() {
    let root = scratch_dir();
    let data_dir = root.join("data");

    // First start: everything is created; the generated password is printed once.
    let first = start(&data_dir).await;
    assert_eq!(
        get(&first.address, "/health").await,
        (200, r#"{"status":"ok"}"#.into())
    );
    assert_eq!(
        get(&first.address, "/ready").await,
        (200, r#"{"status":"ready"}"#.into())
    );
    let banner = first.stdout.lock().expect("lock").clone();
    assert!(banner.contains("ops@haven.test"), "{banner}");
    assert!(banner.contains("shown only once"), "{banner}");
    let key_path = data_dir.join("master.key");
    let key = std::fs::read_to_string(&key_path).expect("master key written");
    let mode = std::fs::metadata(&key_path)
        .expect("key")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        data_dir.join("pg/PG_VERSION").exists(),
        "cluster initialized in the data dir"
    );
    assert_eq!(stop(first, Signal::SIGTERM).await, Some(0), "graceful exit");
    assert!(
        !data_dir.join("pg/postmaster.pid").exists(),
        "cluster stopped with Haven"
    );

    // Second start: same cluster, same key, nobody new to announce.
    let second = start(&data_dir).await;
    assert_eq!(get(&second.address, "/ready").await.0, 200);
    assert!(
        second.stdout.lock().expect("lock").is_empty(),
        "no second password"
    );
    assert_eq!(std::fs::read_to_string(&key_path).expect("key"), key);

    // Killed: the postmaster outlives Haven, and the next start recovers it.
    assert_eq!(stop(second, Signal::SIGKILL).await, None);
    assert!(
        data_dir.join("pg/postmaster.pid").exists(),
        "cluster left behind"
    );
    let third = start(&data_dir).await;
    assert_eq!(get(&third.address, "/ready").await.0, 200);
    assert_eq!(stop(third, Signal::SIGINT).await, Some(0));
    assert!(!data_dir.join("pg/postmaster.pid").exists());

    std::fs::remove_dir_all(root).expect("cleanup");
}

#[tokio::test]
async fn a_second_haven_on_the_same_data_dir_is_refused() {
    let root = scratch_dir();
    let data_dir = root.join("data");
    let first = start(&data_dir).await;

    let output = haven(&data_dir, &[]).output().await.expect("run");

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("another Haven process is using"),
        "{stderr}"
    );
    assert_eq!(
        get(&first.address, "/ready").await.0,
        200,
        "the first is unharmed"
    );
    assert_eq!(stop(first, Signal::SIGTERM).await, Some(0));
    std::fs::remove_dir_all(root).expect("cleanup");
}

#[tokio::test]
async fn unusable_postgresql_binaries_give_one_clear_error() {
    let root = scratch_dir();

    let output = haven(
        &root.join("data"),
        &[("HAVEN_PG_BIN_DIR", "/nonexistent/bin")],
    )
    .output()
    .await
    .expect("run");

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("package `postgresql`"), "{stderr}");
    std::fs::remove_dir_all(root).expect("cleanup");
}

#[tokio::test]
async fn production_refuses_the_embedded_database() {
    let root = scratch_dir();

    let output = haven(&root.join("data"), &[("HAVEN_ENV", "production")])
        .output()
        .await
        .expect("run");

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("HAVEN_ENV=production refuses the embedded database"),
        "{stderr}"
    );
    assert!(!root.join("data").exists(), "nothing was created");
    std::fs::remove_dir_all(root).expect("cleanup");
}

#[tokio::test]
async fn an_external_database_works_the_same_way_without_initdb() {
    let db = haven_testkit::TestDb::new().await;
    let root = scratch_dir();
    let key = haven::crypto::MasterKey::generate_base64();
    let app_url = db.url(haven::db::APP_ROLE);
    let owner_url = db.url(haven::db::OWNER_ROLE);

    let running = start_with(
        &root.join("data"),
        &[
            ("HAVEN_DATABASE_URL", app_url.as_str()),
            ("HAVEN_MIGRATE_DATABASE_URL", owner_url.as_str()),
            ("HAVEN_MASTER_KEY", key.as_str()),
            ("HAVEN_BOOTSTRAP_EMAIL", "ops@haven.test"),
        ],
    )
    .await;

    assert_eq!(get(&running.address, "/ready").await.0, 200);
    assert!(
        running
            .stdout
            .lock()
            .expect("lock")
            .contains("ops@haven.test"),
        "bootstrapped"
    );
    assert!(!root.join("data/pg").exists(), "no cluster of its own");
    assert_eq!(stop(running, Signal::SIGTERM).await, Some(0));
    std::fs::remove_dir_all(root).expect("cleanup");
}
