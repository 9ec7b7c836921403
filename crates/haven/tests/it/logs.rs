//! The real binary's whole output, after a workflow with marker PHI, passwords and tokens,
//! contains none of them (SPEC §9).

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::fixtures::binary::{call, scratch_dir, start_with, stop};

#[tokio::test]
async fn a_full_workflow_leaves_no_phi_password_or_token_in_the_logs() {
    let root = scratch_dir();
    let marker = format!("Phi{}", uuid::Uuid::new_v4().simple());
    let operator_password = "orchid-lantern-operator-5521";
    let running = start_with(
        &root.join("data"),
        &[
            ("HAVEN_BOOTSTRAP_EMAIL", "ops@haven.test"),
            ("HAVEN_BOOTSTRAP_PASSWORD", operator_password),
            ("HAVEN_LOG", "debug,sqlx=debug"),
        ],
    )
    .await;
    let at = running.address.clone();
    let login = |email: &'static str, password: &'static str| {
        let at = at.clone();
        async move {
            let (status, body) = call(
                &at,
                "POST",
                "/api/auth/login",
                None,
                Some(&json!({ "email": email, "password": password })),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            serde_json::from_str::<Value>(&body).expect("json")
        }
    };

    let operator = login("ops@haven.test", operator_password).await;
    let operator_token = operator["token"].as_str().expect("token").to_owned();
    let admin_password = "marble-fjord-admin-8830";
    let (status, _) = call(&at, "POST", "/api/admin/organizations", Some(&operator_token), Some(&json!({
        "name": "Log Practice", "adminEmail": "lead@logs.example.org", "adminPassword": admin_password,
        "adminFirstName": "Dana", "adminLastName": "Reyes",
    })))
    .await;
    assert_eq!(status, 201);
    let admin = login("lead@logs.example.org", admin_password).await;
    let token = admin["token"].as_str().expect("token").to_owned();
    let refresh = admin["refreshToken"].as_str().expect("refresh").to_owned();
    let (status, body) = call(&at, "POST", "/api/patients", Some(&token), Some(&json!({
        "firstName": format!("{marker}First"), "lastName": format!("{marker}Last"), "dateOfBirth": "2013-05-06",
        "medicalRecordNumber": format!("{marker}MRN"), "phoneNumber": "+1 555 010 9182",
        "email": format!("{marker}@family.example.org"),
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).expect("json")["patient"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        call(
            &at,
            "GET",
            &format!("/api/patients/{id}"),
            Some(&token),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            &at,
            "GET",
            &format!("/api/patients?lastName={marker}Last"),
            Some(&token),
            None
        )
        .await
        .0,
        200
    );
    // A bad request that echoes nothing, a wrong password, a refresh.
    call(
        &at,
        "POST",
        "/api/patients",
        Some(&token),
        Some(&json!({ "firstName": format!("{marker}Bad") })),
    )
    .await;
    call(
        &at,
        "POST",
        "/api/auth/login",
        None,
        Some(&json!({ "email": "lead@logs.example.org", "password": format!("{marker}guess") })),
    )
    .await;
    call(
        &at,
        "POST",
        "/api/auth/refresh",
        None,
        Some(&json!({ "refreshToken": refresh })),
    )
    .await;

    // Metrics are on their own listener, never on the API port, and saw this workflow.
    let metrics_at = metrics_address(&running.stderr.lock().expect("lock"));
    let (status, exposition) = call(&metrics_at, "GET", "/metrics", None, None).await;
    assert_eq!(status, 200);
    assert!(exposition.contains(
        "haven_http_requests_total{method=\"POST\",route=\"/api/patients\",status=\"201\"} 1"
    ));
    assert!(!exposition.contains(&marker) && !exposition.contains(&id));
    assert_eq!(call(&at, "GET", "/metrics", None, None).await.0, 404);

    let stderr = running.stderr.clone();
    let stdout = running.stdout.clone();
    assert_eq!(stop(running, Signal::SIGTERM).await, Some(0));
    let output = format!(
        "{}\n{}",
        stdout.lock().expect("lock"),
        stderr.lock().expect("lock")
    );

    assert!(
        output.contains("request completed"),
        "the log has request lines"
    );
    assert!(
        output.contains("\"route\":\"/api/patients/{id}\""),
        "routes are logged as templates"
    );
    // The access line of the patient read names the request, caller, route, status, latency.
    let read = output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| {
            line["message"] == "request completed"
                && line["span"]["route"] == "/api/patients/{id}"
                && line["span"]["method"] == "GET"
        })
        .expect("the patient read's access line");
    assert_eq!(read["status"], 200);
    assert!(read["latencyMs"].as_f64().is_some_and(|ms| ms > 0.0));
    assert!(read["span"]["requestId"].is_string());
    assert_eq!(read["span"]["userId"], admin["user"]["id"]);
    assert_eq!(
        read["span"]["organizationId"],
        admin["user"]["organizationId"]
    );
    for secret in [
        marker.as_str(),
        operator_password,
        admin_password,
        token.as_str(),
        refresh.as_str(),
        operator_token.as_str(),
        "555 010 9182",
    ] {
        assert!(!output.contains(secret), "the log contains {secret:.16}…");
    }
    std::fs::remove_dir_all(root).expect("cleanup");
}

/// The metrics listener's address, from its start-up line.
fn metrics_address(stderr: &str) -> String {
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["message"] == "metrics are served at /metrics")
        .and_then(|line| line["address"].as_str().map(str::to_owned))
        .expect("the metrics listener's start-up line")
}

/// A database error on its way to a log line (a 500's cause, a background job's failure) is
/// named by its SQLSTATE, constraint and table: PostgreSQL's message, which quotes the values
/// (here the duplicate key, a marker), is withheld, also behind a context and behind a
/// `#[error(transparent)]` wrapper that repeats it.
#[tokio::test]
async fn a_database_error_reaches_a_log_line_without_its_message() {
    #[derive(Debug, thiserror::Error)]
    enum Wrapper {
        #[error(transparent)]
        Database(#[from] sqlx::Error),
    }

    let db = haven_testkit::TestDb::new().await;
    let mut conn = sqlx::PgConnection::connect_with(&db.superuser_options())
        .await
        .expect("superuser");
    let marker = format!("Phi{}", uuid::Uuid::new_v4().simple());
    sqlx::query("CREATE TEMP TABLE t (v text CONSTRAINT t_v_key UNIQUE)")
        .execute(&mut conn)
        .await
        .expect("table");
    let insert = "INSERT INTO t VALUES ($1)";
    sqlx::query(insert)
        .bind(&marker)
        .execute(&mut conn)
        .await
        .expect("the first insert");
    let duplicate = sqlx::query(insert)
        .bind(&marker)
        .execute(&mut conn)
        .await
        .expect_err("a unique violation");

    let direct = haven::telemetry::loggable(&duplicate).to_string();
    let with_context = anyhow::Error::new(Wrapper::from(duplicate)).context("saving a thing");
    let chained = haven::telemetry::loggable(&*with_context).to_string();
    for text in [&direct, &chained] {
        assert!(
            !text.contains(&marker),
            "the value reached the log text: {text}"
        );
        assert!(
            !text.contains("duplicate key"),
            "PostgreSQL's message: {text}"
        );
        assert!(
            text.contains("database error 23505 (constraint t_v_key"),
            "{text}"
        );
    }
    assert!(chained.starts_with("saving a thing: "), "{chained}");
    assert!(!format!("{:?}", haven::telemetry::loggable(&*with_context)).contains(&marker));
}
