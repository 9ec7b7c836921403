//! Transport hardening: slow and idle clients are disconnected, oversized heads are refused in
//! the envelope, and a database outage answers 503 (then recovers) instead of 500.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use haven::{ConnectionLimits, launch_with};
use haven_testkit::TestApp;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::fixtures::binary::{call, scratch_dir, start_with, stop};

/// Serves a test app on a real socket with a 1-second head timeout.
async fn serve(app: &TestApp) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = haven::build_router(app.state().clone());
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        ..ConnectionLimits::default()
    };
    tokio::spawn(launch_with(
        listener,
        router,
        async move {
            let _ = stopped.await;
        },
        limits,
    ));
    (address, stop)
}

/// Reads until the server closes the connection; what it sent, or `None` if it never closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut received)).await;
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = TestApp::new().await;
    let (address, _stop) = serve(&app).await;
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: haven\r\nX-Slow: ")
        .await
        .expect("write");

    let answer = read_until_closed(&mut stream, Duration::from_secs(10)).await;

    let answer = answer.expect("the server closes a connection whose head never completes");
    assert!(!answer.contains("200 OK"), "no handler ran: {answer}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = TestApp::new().await;
    let (address, _stop) = serve(&app).await;
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: haven\r\n\r\n")
        .await
        .expect("write");

    let answer = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("an idle connection is closed after the head timeout");

    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
}

#[tokio::test]
async fn a_head_beyond_the_transport_limit_is_refused_before_any_handler() {
    let app = TestApp::new().await;
    let (address, _stop) = serve(&app).await;
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let huge = "a".repeat(100 * 1024);
    let request = format!("GET /health HTTP/1.1\r\nHost: haven\r\nX-Big: {huge}\r\n\r\n");
    // The server may close while we still write; that is the refusal too.
    let _ = stream.write_all(request.as_bytes()).await;

    let answer = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .unwrap_or_default();

    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn too_many_or_too_large_headers_and_long_uris_get_the_envelope() {
    let app = TestApp::new().await;

    let mut many = Request::builder().method(Method::GET).uri("/health");
    for i in 0..120 {
        many = many.header(format!("x-extra-{i}"), "1");
    }
    let response = app.send(many.body(Body::empty()).expect("request")).await;
    assert_eq!(response.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(response.error_code(), "HEADERS_TOO_LARGE");

    let large = Request::builder()
        .uri("/health")
        .header("x-large", "b".repeat(20 * 1024))
        .body(Body::empty())
        .expect("request");
    let response = app.send(large).await;
    assert_eq!(response.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(response.json()["success"], json!(false));

    let long = format!("/api/patients?mrn={}", "c".repeat(9 * 1024));
    let response = app.get(&long).await;
    assert_eq!(response.status, StatusCode::URI_TOO_LONG);
    assert_eq!(response.error_code(), "URI_TOO_LONG");

    let fine = app.get("/health").await;
    assert_eq!(fine.status, StatusCode::OK);
}

fn owner_pg(data_dir: &std::path::Path) -> haven_pg::Cluster {
    let bins = haven_pg::PgBinaries::locate(None).expect("PostgreSQL binaries");
    let (cluster, created) = haven_pg::Cluster::prepare(
        bins,
        haven_pg::ClusterSpec {
            data_dir: data_dir.join("pg"),
            socket_dir: data_dir.join("run"),
            port: 5432,
            superuser: "postgres".into(),
            settings: Vec::new(),
            no_sync: false,
        },
    )
    .expect("the embedded cluster");
    assert!(!created, "haven created it");
    cluster
}

#[tokio::test]
async fn a_database_outage_answers_503_in_the_envelope_and_haven_recovers() {
    let root = scratch_dir();
    let data_dir = root.join("data");
    let password = "an outage drill passphrase 7Q";
    let running = start_with(
        &data_dir,
        &[
            ("HAVEN_BOOTSTRAP_EMAIL", "ops@haven.test"),
            ("HAVEN_BOOTSTRAP_PASSWORD", password),
            ("HAVEN_REQUEST_TIMEOUT_SECS", "20"),
        ],
    )
    .await;
    let address = running.address.clone();
    let login = json!({ "email": "ops@haven.test", "password": password });
    let (status, body) = call(&address, "POST", "/api/auth/login", None, Some(&login)).await;
    assert_eq!(status, 200, "{body}");
    let token = serde_json::from_str::<Value>(&body).expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (status, _) = call(
        &address,
        "GET",
        "/api/admin/organizations",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);

    // The database goes away mid-run.
    let cluster = owner_pg(&data_dir);
    cluster.stop().expect("stop PostgreSQL");

    for (method, path, token, body) in [
        ("GET", "/ready", None, None),
        (
            "GET",
            "/api/admin/organizations",
            Some(token.as_str()),
            None,
        ),
        ("POST", "/api/auth/login", None, Some(&login)),
    ] {
        let (status, body) = call(&address, method, path, token, body).await;
        assert_eq!(status, 503, "{method} {path}: {body}");
        let envelope: Value = serde_json::from_str(&body).expect("envelope");
        assert_eq!(envelope["success"], json!(false), "{body}");
        assert_eq!(envelope["error"], "SERVICE_UNAVAILABLE", "{body}");
        assert!(!body.contains("sqlx") && !body.contains("socket"), "{body}");
    }
    let (status, _) = call(&address, "GET", "/health", None, None).await;
    assert_eq!(status, 200, "liveness does not depend on the database");

    // It comes back; so does Haven, without a restart.
    cluster.start().expect("start PostgreSQL");
    let mut recovered = false;
    for _ in 0..40 {
        let (status, _) = call(
            &address,
            "GET",
            "/api/admin/organizations",
            Some(&token),
            None,
        )
        .await;
        if status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "haven serves again once the database is back");
    let (status, _) = call(&address, "GET", "/ready", None, None).await;
    assert_eq!(status, 200);

    stop(running, nix::sys::signal::Signal::SIGTERM).await;
    let _ = std::fs::remove_dir_all(root);
}
