//! `GET /api/security/detection-rules` and `PUT /api/security/detection-rules/{kind}`.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

#[tokio::test]
async fn the_defaults_are_listed_and_a_change_is_stored_and_audited() {
    let app = TestApp::new().await;
    let compliance = app.org_with("Practice A", Role::Compliance).await;

    let before = app
        .get_as(&compliance, "/api/security/detection-rules")
        .await;
    let put = app
        .json_as(
            &compliance,
            Method::PUT,
            "/api/security/detection-rules/EXCESSIVE_PHI_ACCESS",
            &json!({"enabled": true, "severity": "CRITICAL", "thresholds": {"patientsPerHour": 30}, "autoAction": "REVOKE_SESSIONS"}),
        )
        .await;
    let after = app
        .get_as(&compliance, "/api/security/detection-rules")
        .await;

    assert_eq!(before.status, StatusCode::OK);
    let rules = before.json()["rules"].clone();
    assert_eq!(rules.as_array().expect("rules").len(), 5);
    assert_eq!(rules[0]["kind"], "EXCESSIVE_PHI_ACCESS");
    assert_eq!(rules[0]["thresholds"]["patientsPerHour"], 50);
    assert_eq!(rules[0]["severity"], "HIGH");
    assert_eq!(rules[4]["kind"], "BULK_EXPORT");
    assert_eq!(rules[4]["autoAction"], "REVOKE_SESSIONS");
    assert_eq!(
        put.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&put.body)
    );
    let changed = after.json()["rules"][0].clone();
    assert_eq!(changed["thresholds"]["patientsPerHour"], 30);
    assert_eq!(changed["thresholds"]["patientsPerMinute"], 20);
    assert_eq!(changed["severity"], "CRITICAL");
    assert!(
        app.audited(compliance.organization_id, "DETECTION_RULE_UPDATE")
            .await
    );
}

#[tokio::test]
async fn unknown_kinds_and_bad_thresholds_are_refused_and_nothing_changes() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let cases = [
        (
            "NOT_A_RULE",
            json!({"enabled": true, "severity": "HIGH"}),
            "kind",
        ),
        (
            "BULK_EXPORT",
            json!({"enabled": true, "severity": "HIGH", "thresholds": {"exportsPerHour": 0}}),
            "thresholds.exportsPerHour",
        ),
        (
            "BULK_EXPORT",
            json!({"enabled": true, "severity": "HIGH", "thresholds": {"exportsPerHour": 100001}}),
            "thresholds.exportsPerHour",
        ),
        (
            "BULK_EXPORT",
            json!({"enabled": true, "severity": "HIGH", "thresholds": {"patientsPerHour": 5}}),
            "thresholds.patientsPerHour",
        ),
    ];
    for (kind, body, field) in cases {
        let response = app
            .json_as(
                &admin,
                Method::PUT,
                &format!("/api/security/detection-rules/{kind}"),
                &body,
            )
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{field}");
        assert!(
            response.json()["details"][field].is_string(),
            "{field}: {}",
            String::from_utf8_lossy(&response.body)
        );
    }
    let bad_severity = app
        .json_as(
            &admin,
            Method::PUT,
            "/api/security/detection-rules/BULK_EXPORT",
            &json!({"enabled": true, "severity": "EXTREME"}),
        )
        .await;
    assert_eq!(bad_severity.status, StatusCode::BAD_REQUEST);
    let owner = app.db().owner_pool().await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM detection_rules")
        .fetch_one(&owner)
        .await
        .expect("count");
    assert_eq!(stored, 0);
    assert!(
        !app.audited(admin.organization_id, "DETECTION_RULE_UPDATE")
            .await
    );
}
