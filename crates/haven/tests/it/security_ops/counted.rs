//! Metrics count what happened: a reservation is `reserved` once committed, never when it was
//! refused afterwards; key rotations made by `haven keys rotate` (another process) show in the
//! running server's `haven_key_rotations_total`.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use haven::app::Settings;
use haven::domain::Role;
use haven::telemetry::metrics_server;
use haven::{App, AppState};
use haven_testkit::{TestApp, TestDb, request, send};
use metrics_exporter_prometheus::PrometheusBuilder;

use super::shared_master_key;
use crate::fixtures::units::{authorization, practice, reserve};

/// The value of `haven_unit_reservations_total{outcome}` in a rendered recorder (0 if absent).
fn reservations(text: &str, outcome: &str) -> f64 {
    let series = format!("haven_unit_reservations_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0.0, |v| v.parse().expect("a number"))
}

// The reservation counter is process-wide and other tests reserve units concurrently: this test
// counts into a recorder of its own thread (the test runtime is single-threaded, so the handlers
// run here).
#[tokio::test]
async fn refused_reservations_leave_the_reserved_counter_unchanged() {
    let app = TestApp::new().await;
    let a = practice(&app, "Counted A").await;
    let outsider = app.user_in(a.admin.organization_id, Role::Clinician).await;
    let other_practice = app.org_with("Counted B", Role::Admin).await;
    let auth = authorization(&app, &a.admin, &a.patient, 3).await;
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let guard = metrics::set_default_local_recorder(&recorder);

    // Units are there, but the clinician is not on the patient's care team: hidden, 404.
    let hidden = reserve(&app, &outsider, &auth, 1).await;
    // Another practice's authorization: 404.
    let foreign = reserve(&app, &other_practice, &auth, 1).await;
    // More units than the authorization has left.
    let too_many = reserve(&app, &a.admin, &auth, 5).await;
    let after_refusals = handle.render();
    let granted = reserve(&app, &a.admin, &auth, 1).await;
    let after_grant = handle.render();
    drop(guard);

    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(too_many.error_code(), "INSUFFICIENT_UNITS");
    assert_eq!(granted.status, StatusCode::CREATED);
    assert_eq!(reservations(&after_refusals, "reserved"), 0.0);
    assert_eq!(reservations(&after_refusals, "not_found"), 2.0);
    assert_eq!(reservations(&after_refusals, "insufficient_units"), 1.0);
    assert_eq!(reservations(&after_grant, "reserved"), 1.0);
}

/// `haven_key_rotations_total` as the metrics listener of `state` serves it.
async fn key_rotations(state: &AppState) -> f64 {
    let router = metrics_server::router(state.clone());
    let response = send(&router, request(Method::GET, "/metrics", Body::empty())).await;
    assert_eq!(response.status, StatusCode::OK);
    let text = String::from_utf8(response.body.to_vec()).expect("utf-8");
    assert!(text.contains("# TYPE haven_key_rotations_total counter"));
    text.lines()
        .find_map(|line| line.strip_prefix("haven_key_rotations_total "))
        .expect("the series")
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn key_rotations_by_the_cli_show_in_the_running_servers_metric() {
    let db = TestDb::new().await;
    let org = db.create_organization("Rotating Practice").await;
    let (server_key, cli_key) = shared_master_key();
    let server = AppState::new(
        App::start(db.app_pool().await, server_key, Settings::development())
            .await
            .expect("the server's app"),
    );
    let before = key_rotations(&server).await;

    // `haven keys rotate` and `haven keys rotate-data`: another process of the deployment, with
    // its own pool on the same database, and its own metrics, which nobody scrapes.
    let cli_metrics = metrics::NoopRecorder;
    let cli_process = metrics::set_default_local_recorder(&cli_metrics);
    let cli = App::start(db.app_pool().await, cli_key, Settings::development())
        .await
        .expect("the CLI's app");
    haven::commands::keys::rotate(&cli)
        .await
        .expect("rotate the signing key");
    haven::commands::keys::rotate(&cli)
        .await
        .expect("rotate it again");
    // A practice's PHI data key: the first run creates one, the second replaces it.
    for _ in 0..2 {
        haven::commands::keys::rotate_data(&cli, org, 100)
            .await
            .expect("rotate the data key");
    }
    drop(cli_process);
    let after = key_rotations(&server).await;

    assert_eq!(
        after - before,
        3.0,
        "two signing key and one data key rotation"
    );
    assert_eq!(
        before, 0.0,
        "the count is this deployment's, from its database"
    );
}
