//! The real `haven` binary in embedded mode, end to end: first start (initdb, roles, migrations,
//! master key, bootstrap password printed once), a second start that reuses everything, a
//! graceful SIGTERM, and recovery after SIGKILL left the cluster running.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::sys::signal::Signal;

use crate::fixtures::binary::{Running, call, haven, scratch_dir, start_with, stop};

async fn start(data_dir: &Path) -> Running {
    start_with(data_dir, &[("HAVEN_BOOTSTRAP_EMAIL", "ops@haven.test")]).await
}

/// A minimal HTTP/1.1 GET: the tests need no client library for a few calls.
async fn get(address: &str, path: &str) -> (u16, String) {
    call(address, "GET", path, None, None).await
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

/// A checkout where the PostgreSQL user cannot enter (root's home in a container): as root, the
/// cluster moves to the clusters directory and Haven starts, twice, on the same cluster; as
/// anyone else the server runs as that user, who can enter, and the cluster stays in place.
#[tokio::test]
async fn a_data_dir_the_postgres_user_cannot_enter_still_starts() {
    let root = scratch_dir();
    let private = root.join("private");
    std::fs::create_dir(&private).expect("private dir");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let data_dir = private.join("data");
    let clusters = root.join("clusters");
    let env = [
        ("HAVEN_BOOTSTRAP_EMAIL", "ops@haven.test"),
        ("HAVEN_CLUSTERS_DIR", clusters.to_str().expect("utf-8")),
    ];

    let first = start_with(&data_dir, &env).await;
    assert_eq!(get(&first.address, "/ready").await.0, 200);
    assert_eq!(stop(first, Signal::SIGTERM).await, Some(0));
    let second = start_with(&data_dir, &env).await;
    assert_eq!(get(&second.address, "/ready").await.0, 200);
    assert!(
        second.stdout.lock().expect("lock").is_empty(),
        "the same cluster: nobody new to announce"
    );
    assert_eq!(stop(second, Signal::SIGTERM).await, Some(0));

    let moved: Vec<_> = std::fs::read_dir(&clusters)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    if nix::unistd::geteuid().is_root() {
        assert!(
            !data_dir.join("pg").exists(),
            "not in the unreachable data dir"
        );
        assert_eq!(moved.len(), 1, "{moved:?}");
        assert!(moved[0].join("pg/PG_VERSION").exists());
        let name = moved[0]
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with("data-"), "{name}");
    } else {
        assert!(data_dir.join("pg/PG_VERSION").exists());
        assert!(moved.is_empty());
    }
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
