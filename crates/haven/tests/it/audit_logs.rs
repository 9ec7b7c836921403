//! `/api/audit-logs`: query with filters and pages, verify, export; who may; other tenants.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::{PASSWORD, TestApp};
use serde_json::{Value, json};
use sqlx::Connection;

#[tokio::test]
async fn admins_and_compliance_read_their_organizations_log() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    let other = app.org_with("Practice B", Role::Admin).await;

    for reader in [&admin, &compliance] {
        let response = app.get_as(reader, "/api/audit-logs?limit=100").await;
        assert_eq!(response.status, StatusCode::OK);
        let body = response.json();
        let entries = body["auditLogs"].as_array().expect("entries");
        assert!(
            entries
                .iter()
                .all(|e| e["organizationId"] == json!(admin.organization_id))
        );
        let logins = entries
            .iter()
            .filter(|e| e["action"] == "LOGIN_SUCCESS")
            .count();
        assert_eq!(
            logins, 2,
            "both logins of this organization, none of the other"
        );
        let first = &entries[0];
        for field in [
            "id",
            "sequence",
            "timestamp",
            "action",
            "accessMethod",
            "outcome",
            "prevHash",
            "hash",
            "details",
        ] {
            assert!(!first[field].is_null(), "{field} in {first}");
        }
    }
    let theirs = app.get_as(&other, "/api/audit-logs").await.json();
    assert_eq!(
        theirs["pagination"]["total"], 1,
        "B sees its own login only"
    );
}

#[tokio::test]
async fn filters_and_pages_narrow_the_log() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    for _ in 0..3 {
        app.json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": clinician.email, "password": "wrong-one-here-1" }),
        )
        .await;
    }

    let failures = app
        .get_as(&admin, "/api/audit-logs?action=LOGIN_FAILURE")
        .await
        .json();
    assert_eq!(failures["pagination"]["total"], 3);
    let by_user = app
        .get_as(
            &admin,
            &format!("/api/audit-logs?userId={}&limit=2&page=1", clinician.id),
        )
        .await
        .json();
    assert_eq!(
        by_user["pagination"]["total"], 4,
        "one login and three failures"
    );
    assert_eq!(by_user["pagination"]["totalPages"], 2);
    assert_eq!(by_user["auditLogs"].as_array().expect("page").len(), 2);
    let future = app
        .get_as(&admin, "/api/audit-logs?from=2999-01-01")
        .await
        .json();
    assert_eq!(future["pagination"]["total"], 0);
    let window = app
        .get_as(&admin, "/api/audit-logs?from=2020-01-01T00:00:00Z&to=2999-01-01T00:00:00Z&action=LOGIN_SUCCESS")
        .await
        .json();
    assert_eq!(window["pagination"]["total"], 2);
}

#[tokio::test]
async fn bad_filters_are_400s() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    for (query, field) in [
        ("action=NOT_AN_ACTION", "action"),
        ("from=2025-02-01&to=2025-01-01", "to"),
        ("limit=1000", "limit"),
        ("page=0", "page"),
        ("userId=12", "userId"),
        ("patientId=zzz", "patientId"),
        ("from=yesterday", "from"),
        ("color=red", "color"),
    ] {
        let response = app
            .get_as(&admin, &format!("/api/audit-logs?{query}"))
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            !response.json()["details"][field].is_null(),
            "{query}: {}",
            response.json()
        );
    }
}

#[tokio::test]
async fn other_roles_may_not_read_the_log() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let operator = app.user_in(admin.organization_id, Role::SuperAdmin).await;
    for role in [Role::Clinician, Role::Billing] {
        let user = app.user_in(admin.organization_id, role).await;
        for path in [
            "/api/audit-logs",
            "/api/audit-logs/verify",
            "/api/audit-logs/export",
        ] {
            assert_eq!(
                app.get_as(&user, path).await.status,
                StatusCode::FORBIDDEN,
                "{role} {path}"
            );
        }
    }
    assert_eq!(
        app.get_as(&operator, "/api/audit-logs").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/audit-logs").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn verify_reports_an_intact_chain_then_the_break() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    app.get_as(&admin, "/api/audit-logs").await;

    let intact = app.get_as(&admin, "/api/audit-logs/verify").await;
    assert_eq!(intact.status, StatusCode::OK);
    let body = intact.json();
    assert_eq!(body["valid"], true);
    assert!(body["checkedEntries"].as_u64().is_some_and(|n| n >= 1));
    assert!(body.get("firstBrokenSequence").is_none());

    let mut su = sqlx::PgConnection::connect_with(&app.db().superuser_options())
        .await
        .expect("su");
    sqlx::raw_sql("SET session_replication_role = replica; UPDATE audit_log SET outcome = 'denied' WHERE sequence = 1")
        .execute(&mut su)
        .await
        .expect("tamper");
    let broken = app.get_as(&admin, "/api/audit-logs/verify").await.json();
    assert_eq!(broken["valid"], false);
    assert_eq!(broken["firstBrokenSequence"], 1);
}

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
