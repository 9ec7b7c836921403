//! Crash safety, end to end: the real binary serves a load of reservations and completions from
//! several clients and is killed with SIGKILL in the middle of it, three times. After each
//! restart every reservation that was acknowledged with 201 still exists, the ledger invariant
//! holds for every authorization, and the reservations the dead clients left open are released
//! by the stale cleanup (request and command line).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fixtures::binary::{Running, call, haven, scratch_dir, start_with, stop};

const PASSWORD: &str = "correct-horse-battery-staple-42";

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("HAVEN_BOOTSTRAP_EMAIL", "ops@crash.test"),
        ("HAVEN_BOOTSTRAP_PASSWORD", PASSWORD),
        // Sessions of the load start two hours ago: stale one minute after their 15 minutes.
        ("HAVEN_STALE_THRESHOLD_MINUTES", "1"),
        // The test releases them itself; the background job waits an hour.
        ("HAVEN_STALE_CLEANUP_MINUTES", "60"),
    ]
}

/// One request that may fail (the server may die under it): `None` unless a whole response
/// arrived.
async fn try_call(
    address: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &Value,
) -> Option<(u16, Value)> {
    let attempt = async {
        let mut stream = TcpStream::connect(address).await.ok()?;
        let body = body.to_string();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
             Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        let status = response.split_whitespace().nth(1)?.parse().ok()?;
        let json = serde_json::from_str(response.split("\r\n\r\n").nth(1)?).ok()?;
        Some((status, json))
    };
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .ok()
        .flatten()
}

async fn json_call(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Value {
    let (status, text) = call(address, method, path, token, Some(body)).await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {text}"
    );
    serde_json::from_str(&text).expect("JSON")
}

async fn login(address: &str, email: &str) -> Value {
    json_call(
        address,
        "POST",
        "/api/auth/login",
        None,
        &json!({ "email": email, "password": PASSWORD }),
    )
    .await
}

#[derive(Default)]
struct Acknowledged {
    reserved: Mutex<Vec<String>>,
    completed: Mutex<Vec<String>>,
}

/// Reserves (and completes every other one) until the server stops answering.
async fn client(
    address: String,
    token: String,
    auth: String,
    seen: Arc<Acknowledged>,
    stop: Arc<AtomicBool>,
) {
    let start = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
    let mut n = 0_u32;
    while !stop.load(Ordering::Relaxed) {
        let body = json!({ "authorizationId": auth, "startTime": start, "expectedUnits": 1 });
        let Some((status, reply)) =
            try_call(&address, "POST", "/api/sessions", &token, &body).await
        else {
            break;
        };
        assert!(status == 201 || status == 503, "{status} {reply}");
        let Some(id) = reply["session"]["id"].as_str().map(str::to_owned) else {
            continue;
        };
        seen.reserved.lock().expect("lock").push(id.clone());
        n += 1;
        if n.is_multiple_of(2) {
            let done = json!({ "actualUnits": 1 });
            match try_call(
                &address,
                "POST",
                &format!("/api/sessions/{id}/complete"),
                &token,
                &done,
            )
            .await
            {
                Some((200, _)) => seen.completed.lock().expect("lock").push(id),
                Some(_) => {}
                None => break,
            }
        }
    }
}

/// Runs four clients against `running` for a moment, then kills it in the middle of their load.
async fn load_and_kill(running: Running, token: &str, auth: &str, seen: &Arc<Acknowledged>) {
    let halt = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(client(
                running.address.clone(),
                token.to_owned(),
                auth.to_owned(),
                seen.clone(),
                halt.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(stop(running, Signal::SIGKILL).await, None, "killed");
    halt.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client");
    }
}

async fn database(data_dir: &Path) -> PgConnection {
    let options = PgConnectOptions::new()
        .socket(data_dir.join("run"))
        .port(5432)
        .username("haven_app")
        .database("haven");
    PgConnection::connect_with(&options)
        .await
        .expect("connecting as haven_app")
}

/// (inconsistent authorizations, open sessions) of `org`, as the runtime role sees them.
async fn ledger_state(conn: &mut PgConnection, org: &str) -> (i64, i64) {
    let mut tx = conn.begin().await.expect("tx");
    sqlx::query("SELECT set_config('app.current_organization_id', $1, true)")
        .bind(org)
        .execute(&mut *tx)
        .await
        .expect("tenant");
    let broken: i64 =
        sqlx::query_scalar("SELECT count(*) FROM haven_units.ledger_check() WHERE NOT consistent")
            .fetch_one(&mut *tx)
            .await
            .expect("check");
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM therapy_sessions WHERE status IN ('SCHEDULED', 'IN_PROGRESS')",
    )
    .fetch_one(&mut *tx)
    .await
    .expect("open");
    tx.commit().await.expect("commit");
    (broken, open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_server_mid_load_loses_no_acknowledged_reservation_and_cleanup_recovers_the_rest()
 {
    let root = scratch_dir();
    let data_dir = root.join("data");
    let mut running = start_with(&data_dir, &env()).await;
    let address = running.address.clone();
    let operator = login(&address, "ops@crash.test").await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    json_call(
        &address,
        "POST",
        "/api/admin/organizations",
        Some(&operator),
        &json!({
            "name": "Crash Practice", "adminEmail": "lead@crash.test", "adminPassword": PASSWORD,
            "adminFirstName": "Ada", "adminLastName": "Crash",
        }),
    )
    .await;
    let admin = login(&address, "lead@crash.test").await;
    let token = admin["token"].as_str().expect("token").to_owned();
    let org = admin["user"]["organizationId"]
        .as_str()
        .expect("org")
        .to_owned();
    let patient = json_call(&address, "POST", "/api/patients", Some(&token), &json!({
        "firstName": "Kit", "lastName": "Ledger", "dateOfBirth": "2016-01-01", "medicalRecordNumber": "CR-1",
    }))
    .await["patient"]["id"]
        .as_str()
        .expect("patient")
        .to_owned();
    let today = chrono::Utc::now().date_naive();
    let auth = json_call(&address, "POST", "/api/authorizations", Some(&token), &json!({
        "patientId": patient, "payerName": "Crash Mutual", "serviceCode": "97153", "totalUnits": 100_000,
        "startDate": (today - chrono::Duration::days(30)).to_string(),
        "endDate": (today + chrono::Duration::days(30)).to_string(),
    }))
    .await["authorization"]["id"]
        .as_str()
        .expect("authorization")
        .to_owned();

    let seen = Arc::new(Acknowledged::default());
    for _ in 0..3 {
        load_and_kill(running, &token, &auth, &seen).await;
        running = start_with(&data_dir, &env()).await;
    }

    let reserved = seen.reserved.lock().expect("lock").clone();
    let completed = seen.completed.lock().expect("lock").clone();
    assert!(
        reserved.len() >= 10,
        "the load ran: {} reservations",
        reserved.len()
    );
    let mut conn = database(&data_dir).await;
    let mut tx = conn.begin().await.expect("tx");
    sqlx::query("SELECT set_config('app.current_organization_id', $1, true)")
        .bind(&org)
        .execute(&mut *tx)
        .await
        .expect("tenant");
    let ids: Vec<uuid::Uuid> = reserved
        .iter()
        .map(|id| id.parse().expect("uuid"))
        .collect();
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM therapy_sessions WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    let done: Vec<uuid::Uuid> = completed
        .iter()
        .map(|id| id.parse().expect("uuid"))
        .collect();
    let still_completed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM therapy_sessions WHERE id = ANY($1) AND status = 'COMPLETED'",
    )
    .bind(&done)
    .fetch_one(&mut *tx)
    .await
    .expect("count");
    tx.commit().await.expect("commit");
    assert_eq!(
        found,
        i64::try_from(ids.len()).expect("n"),
        "every acknowledged reservation survived"
    );
    assert_eq!(still_completed, i64::try_from(done.len()).expect("n"));
    let (broken, open) = ledger_state(&mut conn, &org).await;
    assert_eq!(broken, 0, "the ledger balances after three kills");
    assert!(open > 0, "the killed clients left reservations open");

    let report = json_call(
        &running.address,
        "POST",
        "/api/admin/maintenance/cleanup-stale",
        Some(&token),
        &json!({}),
    )
    .await;
    assert_eq!(report["success"], true);
    assert_eq!(report["sessionsCleaned"], open);
    assert_eq!(report["totalUnitsRecovered"], open);
    assert_eq!(report["staleThresholdMinutes"], 1);
    assert_eq!(ledger_state(&mut conn, &org).await, (0, 0));
    let cli = haven(&data_dir, &env())
        .args(["maintenance", "cleanup-stale", "--older-than-minutes", "1"])
        .output()
        .await
        .expect("run the command");
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let printed: Value = serde_json::from_slice(&cli.stdout).expect("JSON on stdout");
    assert_eq!(
        printed,
        json!({"success": true, "sessionsCleaned": 0, "totalUnitsRecovered": 0, "staleThresholdMinutes": 1})
    );
    conn.close().await.expect("close");
    assert_eq!(stop(running, Signal::SIGTERM).await, Some(0));
    std::fs::remove_dir_all(root).expect("cleanup");
}
