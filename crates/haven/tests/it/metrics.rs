//! `GET /metrics` on the metrics listener (SPEC §9): every metric is there, labels are low
//! cardinality, and exercising each feature moves its counter. (The binary's own listener, and
//! `/metrics` being absent from the API port, are checked end to end in `logs`.)

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use haven::auth::keys::RotationReason;
use haven::config::AuthConfig;
use haven::domain::Role;
use haven::telemetry::metrics_server;
use haven_testkit::{TestApp, request, send};
use serde_json::json;

use crate::fixtures::btg::grant_id;
use crate::fixtures::metrics::{scrape, value};
use crate::fixtures::units::{authorization, practice, reserve, reserved};

#[tokio::test]
async fn the_listener_serves_every_spec_metric_and_the_api_port_does_not() {
    let app = TestApp::new().await;
    // Histograms appear with their first observation: one request with an audited login.
    app.org_with("Scraped Practice", Role::Admin).await;

    let (text, _) = scrape(&app).await;

    for (name, kind) in [
        ("haven_http_requests_total", "counter"),
        ("haven_http_request_duration_seconds", "histogram"),
        ("haven_auth_logins_total", "counter"),
        ("haven_password_hashes", "gauge"),
        ("haven_key_rotations_total", "counter"),
        ("haven_rls_violations_total", "counter"),
        ("haven_btg_events_total", "counter"),
        ("haven_unit_reservations_total", "counter"),
        ("haven_audit_write_duration_seconds", "histogram"),
        ("haven_db_pool_connections", "gauge"),
        ("haven_security_events_total", "counter"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}")),
            "{name} is not exported as a {kind}"
        );
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no help"
        );
    }
    let api = app.get("/metrics").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    let router = metrics_server::router(app.state().clone());
    let elsewhere = send(
        &router,
        request(Method::GET, "/api/patients", Body::empty()),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn exercising_each_feature_moves_its_counters() {
    let mut settings = haven::app::Settings::development();
    settings.auth = AuthConfig {
        auth_rate_limit: 8,
        ..AuthConfig::development()
    };
    let app = TestApp::with_settings(settings).await;
    let (_, before) = scrape(&app).await;

    // Logins (3 successful, 1 failed), a patient, a cross-tenant read, reservations, a grant.
    let a = practice(&app, "Metrics A").await;
    let clinician = app.user_in(a.admin.organization_id, Role::Clinician).await;
    let b = app.org_with("Metrics B", Role::Admin).await;
    let failed = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": a.admin.email, "password": "not-the-password-at-all" }),
        )
        .await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    let read = app
        .get_as(&a.admin, &format!("/api/patients/{}", a.patient))
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let attack = app
        .get_as(&b, &format!("/api/patients/{}", a.patient))
        .await;
    assert_eq!(attack.status, StatusCode::NOT_FOUND);
    let auth = authorization(&app, &a.admin, &a.patient, 3).await;
    reserved(&app, &a.admin, &auth, 1).await;
    let refused = reserve(&app, &a.admin, &auth, 5).await;
    assert_eq!(refused.error_code(), "INSUFFICIENT_UNITS");
    grant_id(&app, &a.admin, &clinician, &a.patient).await;
    app.state()
        .keys()
        .rotate(RotationReason::Manual)
        .await
        .expect("rotate");
    // Past the auth rate limit (8 per window; 4 logins so far).
    let mut limited = false;
    for _ in 0..8 {
        let response = app
            .json(
                Method::POST,
                "/api/auth/login",
                &json!({ "email": "x@y.z" }),
            )
            .await;
        limited |= response.status == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "the rate limit answered 429");

    let (_, after) = scrape(&app).await;
    let moved = |name: &str, labels: &[(&str, &str)], by: f64| {
        let (was, is) = (value(&before, name, labels), value(&after, name, labels));
        assert!(
            is >= was + by,
            "{name}{labels:?} went from {was} to {is}, expected +{by}"
        );
    };
    moved(
        "haven_http_requests_total",
        &[
            ("method", "POST"),
            ("route", "/api/patients"),
            ("status", "201"),
        ],
        1.0,
    );
    moved(
        "haven_http_requests_total",
        &[
            ("method", "GET"),
            ("route", "/api/patients/{id}"),
            ("status", "404"),
        ],
        1.0,
    );
    moved(
        "haven_http_request_duration_seconds_count",
        &[("method", "GET"), ("route", "/api/patients/{id}")],
        2.0,
    );
    moved("haven_auth_logins_total", &[("outcome", "success")], 3.0);
    moved("haven_auth_logins_total", &[("outcome", "failure")], 1.0);
    moved(
        "haven_security_events_total",
        &[("type", "cross_tenant_access_attempt")],
        1.0,
    );
    moved(
        "haven_security_events_total",
        &[("type", "rate_limited")],
        1.0,
    );
    moved(
        "haven_unit_reservations_total",
        &[("outcome", "reserved")],
        1.0,
    );
    moved(
        "haven_unit_reservations_total",
        &[("outcome", "insufficient_units")],
        1.0,
    );
    moved(
        "haven_btg_events_total",
        &[("action", "BTG_GRANT_ACCESS")],
        1.0,
    );
    moved("haven_key_rotations_total", &[], 1.0);
    moved("haven_audit_write_duration_seconds_count", &[], 5.0);
    // Gauges read at scrape time from this app's database and pool.
    let argon2id = value(
        &after,
        "haven_password_hashes",
        &[("algorithm", "argon2id")],
    );
    assert!(argon2id >= 3.0, "{argon2id} users with Argon2id hashes");
    assert!(value(&after, "haven_db_pool_connections", &[("state", "max")]) >= 1.0);
    assert!(
        after.contains_key(&("haven_rls_violations_total".to_owned(), BTreeMap::new())),
        "the RLS violation counter is exported (at 0 unless a check was missed)"
    );
    // Raw paths never become labels: only route templates appear.
    assert!(
        after
            .keys()
            .filter_map(|(_, labels)| labels.get("route"))
            .all(|route| !route.contains(&a.patient)),
        "a patient id leaked into a route label"
    );
}
