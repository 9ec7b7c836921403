//! `haven keys rotate-master --new-key-file F`, the real binary, as the runbook
//! (`docs/runbooks/master-key.md`) runs it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use haven::crypto::{KekId, MasterKey, MasterKeys};
use haven::db::APP_ROLE;
use haven_testkit::{TestApp, random_master_key};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{deployment, everything_opens, usage};
use crate::fixtures::auth::now;
use crate::fixtures::binary::{haven, scratch_dir};

/// One refused run: what is wrong, the environment, the new key file, and what the message says.
type Refusal<'a> = (&'a str, Vec<(&'a str, &'a str)>, PathBuf, &'a str);

/// Writes `key` (base64, as `openssl rand -base64 32` prints it) to `dir/name` with `mode`.
fn key_file(dir: &Path, name: &str, key: &MasterKey, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{}\n", STANDARD.encode(key.expose()))).expect("key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

fn rotate_master_args(new_key_file: &Path) -> Vec<String> {
    vec![
        "keys".into(),
        "rotate-master".into(),
        "--new-key-file".into(),
        new_key_file.display().to_string(),
        "--batch".into(),
        "1".into(),
    ]
}

/// Runs the command to its end: whether it succeeded, and everything it printed.
async fn run(dir: &Path, env: &[(&str, &str)], new_key_file: &Path) -> (bool, String) {
    let output = haven(&dir.join("data"), env)
        .args(rotate_master_args(new_key_file))
        .output()
        .await
        .expect("run haven");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn rows_not_under(app: &TestApp, new: &KekId, except_org: haven::ids::OrganizationId) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM organization_keys \
                 WHERE organization_id <> $2 AND kek_id IS DISTINCT FROM $1) \
              + (SELECT count(*) FROM signing_keys WHERE kek_id IS DISTINCT FROM $1) \
              + (SELECT count(*) FROM wrapped_secrets WHERE kek_id <> $1)",
    )
    .bind(new.as_str())
    .bind(except_org)
    .fetch_one(&app.db().owner_pool().await)
    .await
    .expect("count")
}

/// Waits until no session of this database holds an advisory lock (a killed client's backend
/// has gone).
async fn advisory_locks_released(app: &TestApp) {
    let owner = app.db().owner_pool().await;
    for _ in 0..200 {
        let held: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
             WHERE l.locktype = 'advisory' AND d.datname = current_database()",
        )
        .fetch_one(&owner)
        .await
        .expect("locks");
        if held == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the killed rotation's lock was never released");
}

#[tokio::test]
async fn killed_midway_the_rotation_leaves_every_key_openable_and_a_rerun_finishes_it() {
    let d = deployment().await;
    let (old, new) = (d.old_key(), random_master_key());
    let dir = scratch_dir();
    let old_file = key_file(&dir, "old.key", &old, 0o600);
    let new_file = key_file(&dir, "new.key", &new, 0o600);
    let url = d.app.db().url(APP_ROLE);
    let old_path = old_file.display().to_string();
    let new_path = new_file.display().to_string();
    // The practice walked last has its keys held locked: the rotation re-wraps everything before
    // it, then waits there until it is killed.
    let last = d.clinic.admin.organization_id;
    let owner = d.app.db().owner_pool().await;
    let mut blocker = owner.begin().await.expect("begin");
    sqlx::query("SELECT id FROM organization_keys WHERE organization_id = $1 FOR UPDATE")
        .bind(last)
        .fetch_all(&mut *blocker)
        .await
        .expect("locked");

    let mut child = haven(
        &dir.join("data"),
        &[
            ("HAVEN_DATABASE_URL", url.as_str()),
            ("HAVEN_MASTER_KEY_FILE", old_path.as_str()),
        ],
    )
    .args(rotate_master_args(&new_file))
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("spawn");
    let mut midway = false;
    for _ in 0..600 {
        if rows_not_under(&d.app, &new.kek_id(), last).await == 0 {
            midway = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(midway, "the rotation never reached the locked practice");
    assert!(child.try_wait().expect("wait").is_none(), "still running");
    let pid = Pid::from_raw(i32::try_from(child.id().expect("pid")).expect("pid fits"));
    kill(pid, Signal::SIGKILL).expect("killed");
    child.wait().await.expect("reaped");
    blocker.rollback().await.expect("released");
    advisory_locks_released(&d.app).await;

    // Midway: rows under both keys; an instance holding both opens everything.
    let kinds: Vec<Option<KekId>> = usage(&d.app).await.into_iter().map(|(k, _)| k).collect();
    assert!(kinds.contains(&Some(old.kek_id())) && kinds.contains(&Some(new.kek_id())));
    let during = d
        .app
        .instance_with_keys(MasterKeys::new(new.clone(), [old.clone()]))
        .await;
    everything_opens(&during, &d, now()).await;

    // The rerun, from the instances' own environment (the new key and the previous one).
    let (ok, output) = run(
        &dir,
        &[
            ("HAVEN_DATABASE_URL", url.as_str()),
            ("HAVEN_MASTER_KEY_FILE", new_path.as_str()),
            ("HAVEN_PREVIOUS_MASTER_KEY_FILE", old_path.as_str()),
        ],
        &new_file,
    )
    .await;
    assert!(ok, "{output}");
    assert!(output.contains("keys re-wrapped"), "{output}");
    assert!(output.contains(new.kek_id().as_str()), "{output}");

    // The check of the runbook's step 4: run again, nothing left to do.
    let (ok, again) = run(
        &dir,
        &[
            ("HAVEN_DATABASE_URL", url.as_str()),
            ("HAVEN_MASTER_KEY_FILE", new_path.as_str()),
            ("HAVEN_PREVIOUS_MASTER_KEY_FILE", old_path.as_str()),
        ],
        &new_file,
    )
    .await;
    assert!(ok && again.contains(": 0 keys re-wrapped"), "{again}");

    let after = d.app.instance_with_keys(new.clone()).await;
    assert_eq!(
        usage(&after)
            .await
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>(),
        vec![Some(new.kek_id())]
    );
    everything_opens(&after, &d, now() + 30).await;
    let platform = d
        .app
        .audit_events(haven::ids::OrganizationId::PLATFORM)
        .await;
    let count = |action: &str| platform.iter().filter(|(a, _, _)| a == action).count();
    assert_eq!(
        count("MASTER_KEY_ROTATION_STARTED"),
        3,
        "killed, rerun, check"
    );
    assert_eq!(count("MASTER_KEY_ROTATION_COMPLETED"), 2);
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[tokio::test]
async fn the_command_refuses_bad_key_files_and_foreign_keys_and_changes_nothing() {
    let app = TestApp::new().await;
    let old = app.state().master_key().clone();
    let dir = scratch_dir();
    let url = app.db().url(APP_ROLE);
    let old_file = key_file(&dir, "old.key", &old, 0o600);
    let new_file = key_file(&dir, "new.key", &random_master_key(), 0o600);
    let loose = key_file(&dir, "loose.key", &random_master_key(), 0o644);
    let wrong = key_file(&dir, "wrong.key", &random_master_key(), 0o600);
    let weak = dir.join("weak.key");
    std::fs::write(&weak, STANDARD.encode([0x41u8; 32])).expect("weak key");
    std::fs::set_permissions(&weak, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let before = usage(&app).await;
    let path = |p: &Path| p.display().to_string();
    let (old_path, wrong_path) = (path(&old_file), path(&wrong));

    let cases: Vec<Refusal<'_>> = vec![
        (
            "the new key is the key in use",
            vec![("HAVEN_MASTER_KEY_FILE", old_path.as_str())],
            old_file.clone(),
            "already in use",
        ),
        (
            "a missing new key file",
            vec![("HAVEN_MASTER_KEY_FILE", old_path.as_str())],
            dir.join("absent.key"),
            "absent.key",
        ),
        (
            "a new key file others can read",
            vec![("HAVEN_MASTER_KEY_FILE", old_path.as_str())],
            loose.clone(),
            "mode 0644",
        ),
        (
            "a weak new key",
            vec![("HAVEN_MASTER_KEY_FILE", old_path.as_str())],
            weak.clone(),
            "weak",
        ),
        (
            "a current key that did not wrap the rows",
            vec![("HAVEN_MASTER_KEY_FILE", wrong_path.as_str())],
            new_file.clone(),
            "neither the new key nor a key given",
        ),
        (
            "no current key at all (nothing generated)",
            vec![],
            new_file.clone(),
            "does not exist",
        ),
    ];
    for (case, extra, new_key, expected) in cases {
        let mut env = vec![("HAVEN_DATABASE_URL", url.as_str())];
        env.extend(extra);

        let (ok, output) = run(&dir, &env, &new_key).await;

        assert!(!ok, "{case}: {output}");
        assert!(output.contains(expected), "{case}: {output}");
        assert_eq!(usage(&app).await, before, "{case}: nothing changed");
    }
    assert!(
        !dir.join("data/master.key").exists(),
        "no key was generated"
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}
