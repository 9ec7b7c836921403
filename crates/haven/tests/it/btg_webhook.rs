//! The security webhook against a local receiver: delivery of the exact line, retries after
//! failures, and a receiver that is down never holding up or failing a request.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use haven::btg::webhook::WebhookUrl;
use haven::config::{Config, Env};
use haven::domain::Role;
use haven_testkit::TestApp;

use crate::fixtures::btg::{WHY, grant, grant_id, patient, text};
use crate::fixtures::webhook::receiver;

fn attach(app: &TestApp, url: &str) {
    app.state()
        .security_signals()
        .attach_webhook(WebhookUrl::parse(url).expect("url"))
        .expect("attach");
}

#[tokio::test]
async fn grant_use_and_revoke_are_posted_as_the_security_line() {
    let hook = receiver(0).await;
    let app = TestApp::new().await;
    attach(&app, &hook.url);
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let patient = patient(&app, &admin, "HOOK-1").await;

    let grant = grant_id(&app, &admin, &clinician, &patient).await;
    app.get_as(&clinician, &format!("/api/patients/{patient}"))
        .await;
    let revoke = app
        .json_as(
            &admin,
            axum::http::Method::POST,
            &format!("/api/admin/btg/grants/{grant}/revoke"),
            &serde_json::json!({ "reason": "Resolved" }),
        )
        .await;
    assert_eq!(revoke.status, StatusCode::OK);

    let bodies = hook.wait_for(3).await;
    assert_eq!(bodies.len(), 3);
    let expected = [
        ("BTG_GRANT_ACCESS", "CRITICAL"),
        ("BTG_USE_ACCESS", "HIGH"),
        ("BTG_REVOKE_ACCESS", "MEDIUM"),
    ];
    for (body, (action, severity)) in bodies.iter().zip(expected) {
        let keys: Vec<&str> = body
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut sorted = vec![
            "timestamp",
            "level",
            "severity",
            "action",
            "grantId",
            "organizationId",
            "userId",
            "patientId",
            "justification",
        ];
        sorted.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, sorted, "exactly the SPEC fields");
        assert_eq!(body["level"], "SECURITY");
        assert_eq!(body["action"], action);
        assert_eq!(body["severity"], severity);
        assert_eq!(body["grantId"], grant.as_str());
        assert_eq!(
            body["organizationId"],
            serde_json::json!(admin.organization_id)
        );
        assert_eq!(body["userId"], serde_json::json!(clinician.id));
        assert_eq!(body["patientId"], patient.as_str());
        assert_eq!(body["justification"], WHY);
        assert!(!body.to_string().contains("Achterberg"), "no PHI");
    }
    let stats = app
        .state()
        .security_signals()
        .webhook()
        .expect("attached")
        .stats();
    assert_eq!((stats.delivered, stats.failed, stats.dropped), (3, 0, 0));
}

#[tokio::test]
async fn a_failing_receiver_gets_the_event_again_with_backoff() {
    let hook = receiver(2).await;
    let app = TestApp::new().await;
    attach(&app, &hook.url);
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let patient = patient(&app, &admin, "HOOK-2").await;

    grant_id(&app, &admin, &clinician, &patient).await;

    let bodies = hook.wait_for(1).await;
    assert_eq!(bodies.len(), 1, "delivered on the third attempt");
    assert_eq!(hook.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(bodies[0]["action"], "BTG_GRANT_ACCESS");
}

#[tokio::test]
async fn a_receiver_that_is_down_neither_slows_nor_fails_the_request() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = closed.local_addr().expect("address");
    drop(closed);
    let app = TestApp::new().await;
    attach(&app, &format!("http://{address}/hooks/security"));
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let patient = patient(&app, &admin, "HOOK-3").await;

    let started = Instant::now();
    let first = grant(&app, &admin, &clinician, &patient, 15).await;
    let read = app
        .get_as(&clinician, &format!("/api/patients/{patient}"))
        .await;
    let elapsed = started.elapsed();

    assert_eq!(first.status, StatusCode::CREATED, "{}", text(&first));
    assert_eq!(read.status, StatusCode::OK);
    assert!(
        elapsed < Duration::from_secs(2),
        "requests do not wait for the webhook ({elapsed:?})"
    );
    let stats = app
        .state()
        .security_signals()
        .webhook()
        .expect("attached")
        .stats();
    assert_eq!(stats.delivered, 0);
}

#[test]
fn the_webhook_url_is_checked_at_start_never_echoed_and_https_in_production() {
    let config = |pairs: &[(&'static str, &'static str)]| {
        Config::from(&Env::from_pairs(pairs.iter().copied()))
    };

    let bad = config(&[(
        "HAVEN_SECURITY_WEBHOOK_URL",
        "ftp://token-123@hooks.example.org/",
    )])
    .expect_err("not http");
    let plain_in_production = config(&[
        ("HAVEN_ENV", "production"),
        (
            "HAVEN_SECURITY_WEBHOOK_URL",
            "http://hooks.example.org/security",
        ),
    ])
    .expect_err("production wants https");
    let good = config(&[(
        "HAVEN_SECURITY_WEBHOOK_URL",
        "https://hooks.example.org/T/token-456",
    )])
    .expect("valid");

    assert!(
        bad.to_string().contains("HAVEN_SECURITY_WEBHOOK_URL"),
        "{bad}"
    );
    assert!(!bad.to_string().contains("token-123"), "{bad}");
    assert!(
        plain_in_production
            .to_string()
            .contains("HAVEN_SECURITY_WEBHOOK_URL")
    );
    assert!(
        good.security_webhook_url
            .as_ref()
            .is_some_and(WebhookUrl::is_https)
    );
    assert!(
        !format!("{good:?}").contains("token-456"),
        "redacted in Debug"
    );
    assert!(config(&[]).expect("valid").security_webhook_url.is_none());
}
