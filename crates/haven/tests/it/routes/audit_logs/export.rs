//! `GET /api/audit-logs/export`: NDJSON and CSV, audited.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::{PASSWORD, TestApp};
use serde_json::{Value, json};

#[tokio::test]
async fn exports_stream_every_entry_and_are_audited() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    for _ in 0..5 {
        app.json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": admin.email, "password": PASSWORD }),
        )
        .await;
    }
    let total = app.get_as(&admin, "/api/audit-logs").await.json()["pagination"]["total"]
        .as_i64()
        .expect("total");

    let ndjson = app
        .get_as(&admin, "/api/audit-logs/export?format=ndjson")
        .await;
    assert_eq!(ndjson.status, StatusCode::OK);
    assert_eq!(ndjson.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<Value> = String::from_utf8_lossy(&ndjson.body)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(
        i64::try_from(lines.len()).expect("small"),
        total,
        "the export's own event comes after it"
    );
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["timestamp"].as_str() <= w[1]["timestamp"].as_str())
    );

    let csv = app
        .get_as(&admin, "/api/audit-logs/export?format=csv")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    let text = String::from_utf8_lossy(&csv.body).into_owned();
    assert!(text.starts_with("id,organizationId,sequence,timestamp,"));
    let exports = app
        .audit_events(admin.organization_id)
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "AUDIT_EXPORT")
        .count();
    assert_eq!(exports, 2, "each export recorded once");
    let bad = app
        .get_as(&admin, "/api/audit-logs/export?format=xml")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}
