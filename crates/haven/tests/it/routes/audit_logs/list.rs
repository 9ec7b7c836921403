//! `GET /api/audit-logs`: one organization's log, filters and pages, bad filters.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

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
async fn an_audit_log_page_keeps_its_shape() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;

    let page = app
        .get_as(&admin, "/api/audit-logs?action=LOGIN_SUCCESS")
        .await;

    assert_eq!(page.status, StatusCode::OK);
    insta::assert_json_snapshot!(page.json(), {
        ".auditLogs[].id" => "[id]",
        ".auditLogs[].organizationId" => "[id]",
        ".auditLogs[].userId" => "[id]",
        ".auditLogs[].entityId" => "[id]",
        ".auditLogs[].requestId" => "[id]",
        ".auditLogs[].sequence" => "[sequence]",
        ".auditLogs[].timestamp" => "[timestamp]",
        ".auditLogs[].prevHash" => "[hash]",
        ".auditLogs[].hash" => "[hash]",
    });
}
