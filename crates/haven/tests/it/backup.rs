//! The restore drill (issue: backups): a Haven archiving its WAL serves practices, patients,
//! unit reservations and their audit rows; a base backup is taken while it serves; writes go on;
//! a time is noted; more writes; the data directory is lost. `haven backup restore --to-time`
//! brings back exactly the rows from before that time, readable with the escrowed master key,
//! the audit chains verify and the unit ledger balances. Bad restores are refused with nothing
//! overwritten.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use crate::fixtures::binary::{Running, call, haven, scratch_dir, start_with, stop};

const OPERATOR: &str = "ops@haven.test";
const OPERATOR_PASSWORD: &str = "drill-operator-passphrase-41";
const ADMIN_PASSWORD: &str = "copper-meadow-lantern-quartz-7";

async fn login(address: &str, email: &str, password: &str) -> String {
    let (status, body) = call(
        address,
        "POST",
        "/api/auth/login",
        None,
        Some(&json!({ "email": email, "password": password })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn post(address: &str, token: &str, path: &str, body: Value) -> Value {
    let (status, text) = call(address, "POST", path, Some(token), Some(&body)).await;
    assert!(status == 200 || status == 201, "{path}: {status} {text}");
    serde_json::from_str(&text).expect("json")
}

async fn get(address: &str, token: &str, path: &str) -> Value {
    let (status, text) = call(address, "GET", path, Some(token), None).await;
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).expect("json")
}

/// A patient with an authorization and one reserved unit (ledger rows, audit rows).
async fn patient_with_units(address: &str, admin: &str, last_name: &str, mrn: &str) {
    let patient = post(
        address,
        admin,
        "/api/patients",
        json!({ "firstName": "Drill", "lastName": last_name, "dateOfBirth": "2016-02-03",
                "medicalRecordNumber": mrn }),
    )
    .await;
    let today = chrono::Utc::now().date_naive();
    let authorization = post(
        address,
        admin,
        "/api/authorizations",
        json!({ "patientId": patient["patient"]["id"], "payerName": "Drill Health",
                "serviceCode": "97153", "totalUnits": 40,
                "startDate": (today - chrono::Days::new(1)).to_string(),
                "endDate": (today + chrono::Days::new(300)).to_string() }),
    )
    .await;
    post(
        address,
        admin,
        "/api/sessions",
        json!({ "authorizationId": authorization["authorization"]["id"],
                "startTime": chrono::Utc::now().to_rfc3339(), "expectedUnits": 2 }),
    )
    .await;
}

async fn run(data_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let output = haven(data_dir, env)
        .args(args)
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

fn superuser(data_dir: &Path) -> PgConnectOptions {
    PgConnectOptions::new()
        .socket(data_dir.join("run"))
        .port(5432)
        .username("postgres")
        .database("haven")
}

/// Switches to a new WAL segment and waits until the archive has the one just completed.
async fn archive_now(data_dir: &Path) {
    let mut conn = PgConnection::connect_with(&superuser(data_dir))
        .await
        .expect("superuser");
    let segment: String = sqlx::query_scalar("SELECT pg_walfile_name(pg_switch_wal())")
        .fetch_one(&mut conn)
        .await
        .expect("switch");
    for _ in 0..300 {
        let archived: Option<String> =
            sqlx::query_scalar("SELECT last_archived_wal FROM pg_stat_archiver")
                .fetch_one(&mut conn)
                .await
                .expect("archiver");
        if archived.is_some_and(|a| a.as_str() >= segment.as_str()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("segment {segment} was not archived within 30 s");
}

async fn start(data_dir: &Path, env: &[(&str, &str)]) -> Running {
    start_with(data_dir, env).await
}

#[tokio::test]
async fn a_point_in_time_restore_brings_back_exactly_what_was_there() {
    let root = scratch_dir();
    let (one, two, base) = (root.join("one"), root.join("two"), root.join("base"));
    let archive = root.join("archive");
    let archive_text = archive.to_str().expect("utf-8").to_owned();
    let env = [
        ("HAVEN_BOOTSTRAP_EMAIL", OPERATOR),
        ("HAVEN_BOOTSTRAP_PASSWORD", OPERATOR_PASSWORD),
        ("HAVEN_WAL_ARCHIVE_DIR", archive_text.as_str()),
    ];

    let first = start(&one, &env).await;
    let operator = login(&first.address, OPERATOR, OPERATOR_PASSWORD).await;
    post(
        &first.address,
        &operator,
        "/api/admin/organizations",
        json!({ "name": "Drill Practice", "adminEmail": "lead@drill.example.org",
                "adminPassword": ADMIN_PASSWORD, "adminFirstName": "Lead", "adminLastName": "Drill" }),
    )
    .await;
    let admin = login(&first.address, "lead@drill.example.org", ADMIN_PASSWORD).await;
    patient_with_units(&first.address, &admin, "Beforebackup", "MRN-DRILL-1").await;

    let (ok, out) = run(
        &one,
        &env,
        &["backup", "create", "--to", base.to_str().expect("utf-8")],
    )
    .await;
    assert!(ok, "{out}");
    assert!(
        !base.join("master.key").exists(),
        "the key is never in a backup"
    );

    patient_with_units(&first.address, &admin, "Beforetime", "MRN-DRILL-2").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let until = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    patient_with_units(&first.address, &admin, "Aftertime", "MRN-DRILL-3").await;
    archive_now(&one).await;
    assert_eq!(stop(first, Signal::SIGTERM).await, Some(0));

    // The disk is lost; the master key was escrowed.
    let escrow = root.join("escrow.key");
    std::fs::copy(one.join("master.key"), &escrow).expect("escrow");
    std::fs::set_permissions(&escrow, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::remove_dir_all(&one).expect("lose the data dir");
    let escrow_text = escrow.to_str().expect("utf-8").to_owned();
    let with_key: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .chain([("HAVEN_MASTER_KEY_FILE", escrow_text.as_str())])
        .collect();
    let from = base.to_str().expect("utf-8");

    // Refused, nothing written: no key, another deployment's key, a time before the backup.
    let (ok, out) = run(&two, &env, &["backup", "restore", "--from", from]).await;
    assert!(!ok && out.contains("escrowed key"), "{out}");
    let other = root.join("other.key");
    std::fs::write(
        &other,
        haven::crypto::MasterKey::generate_base64().as_bytes(),
    )
    .expect("key");
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let other_text = other.to_str().expect("utf-8").to_owned();
    let wrong: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .chain([("HAVEN_MASTER_KEY_FILE", other_text.as_str())])
        .collect();
    let (ok, out) = run(&two, &wrong, &["backup", "restore", "--from", from]).await;
    assert!(!ok && out.contains("another master key"), "{out}");
    let (ok, out) = run(
        &two,
        &with_key,
        &[
            "backup",
            "restore",
            "--from",
            from,
            "--to-time",
            "2020-01-01T00:00:00Z",
        ],
    )
    .await;
    assert!(
        !ok && out.contains("before the backup was complete"),
        "{out}"
    );
    assert!(
        !two.join("run").exists() && !two.join("pg").exists(),
        "nothing written"
    );

    let (ok, out) = run(
        &two,
        &with_key,
        &["backup", "restore", "--from", from, "--to-time", &until],
    )
    .await;
    assert!(ok, "{out}");
    let (ok, out) = run(&two, &with_key, &["backup", "restore", "--from", from]).await;
    assert!(!ok && out.contains("already holds a cluster"), "{out}");

    let second = start(&two, &with_key).await;
    let admin = login(&second.address, "lead@drill.example.org", ADMIN_PASSWORD).await;
    let patients = get(&second.address, &admin, "/api/patients").await;
    let mut names: Vec<String> = patients["patients"]
        .as_array()
        .expect("patients")
        .iter()
        .map(|p| p["lastName"].as_str().expect("decrypted").to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["Beforebackup", "Beforetime"]);
    let (ok, out) = run(&two, &with_key, &["audit", "verify"]).await;
    assert!(ok && out.contains("all chains intact"), "{out}");
    let mut conn = PgConnection::connect_with(&superuser(&two))
        .await
        .expect("superuser");
    // The check is the practice's own (it reads the tenant setting, as the app's does).
    sqlx::query(
        "SELECT set_config('app.current_organization_id', id::text, false) \
         FROM organizations WHERE name = 'Drill Practice'",
    )
    .execute(&mut conn)
    .await
    .expect("tenant");
    let (authorizations, broken): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE NOT consistent) FROM haven_units.ledger_check()",
    )
    .fetch_one(&mut conn)
    .await
    .expect("ledger");
    assert_eq!((authorizations, broken), (2, 0));
    conn.close().await.expect("close");
    assert_eq!(stop(second, Signal::SIGTERM).await, Some(0));
    std::fs::remove_dir_all(root).expect("cleanup");
}

#[tokio::test]
async fn failing_wal_archiving_shows_in_ready() {
    let root = scratch_dir();
    let data = root.join("data");
    let archive = root.join("archive");
    let archive_text = archive.to_str().expect("utf-8").to_owned();
    let env = [
        ("HAVEN_BOOTSTRAP_EMAIL", OPERATOR),
        ("HAVEN_WAL_ARCHIVE_DIR", archive_text.as_str()),
    ];
    let running = start(&data, &env).await;
    let (status, body) = call(&running.address, "GET", "/ready", None, None).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ready"}"#));

    // The archive stops taking files (its owner may no longer write into it).
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o500)).expect("chmod");
    let mut conn = PgConnection::connect_with(&superuser(&data))
        .await
        .expect("superuser");
    sqlx::query("SELECT pg_switch_wal()")
        .execute(&mut conn)
        .await
        .expect("switch");
    let mut details = String::new();
    for _ in 0..300 {
        let (status, body) = call(&running.address, "GET", "/ready", None, None).await;
        assert_eq!(status, 200, "archiving does not stop traffic");
        if body.contains("walArchive") {
            details = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(details.contains("failing"), "{details}");
    conn.close().await.expect("close");
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    assert_eq!(stop(running, Signal::SIGTERM).await, Some(0));
    std::fs::remove_dir_all(root).expect("cleanup");
}
