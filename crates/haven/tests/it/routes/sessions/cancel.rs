//! `POST /api/sessions/{id}/cancel`: units released; illegal transitions are `INVALID_STATE`.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::post;
use crate::fixtures::units::{
    assert_ledger_balanced, authorization, get_authorization, practice, reserved,
};

#[tokio::test]
async fn cancelling_releases_units_and_illegal_transitions_are_invalid_state() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let auth = authorization(&app, &p.admin, &p.patient, 10).await;
    let cancelled = reserved(&app, &p.admin, &auth, 10).await;
    assert_eq!(
        get_authorization(&app, &p.admin, &auth).await["status"],
        "EXHAUSTED"
    );

    let cancel = post(
        &app,
        &p.admin,
        &format!("/api/sessions/{cancelled}/cancel"),
        json!({ "reason": "family emergency" }),
    )
    .await;
    assert_eq!(cancel.status, StatusCode::OK);
    assert_eq!(cancel.json()["session"]["status"], "CANCELLED");
    assert_eq!(cancel.json()["session"]["cancelReason"], "family emergency");
    assert_eq!(cancel.json()["remainingUnits"], 10);
    assert_eq!(
        get_authorization(&app, &p.admin, &auth).await["status"],
        "ACTIVE"
    );
    let completed = reserved(&app, &p.admin, &auth, 1).await;
    post(
        &app,
        &p.admin,
        &format!("/api/sessions/{completed}/complete"),
        json!({ "actualUnits": 1 }),
    )
    .await;

    let illegal = [
        (cancelled.as_str(), "complete", json!({ "actualUnits": 1 })),
        (cancelled.as_str(), "start", json!({})),
        (cancelled.as_str(), "cancel", json!({ "reason": "again" })),
        (completed.as_str(), "complete", json!({ "actualUnits": 1 })),
        (completed.as_str(), "start", json!({})),
        (completed.as_str(), "cancel", json!({ "reason": "late" })),
    ];
    for (id, action, body) in illegal {
        let response = post(
            &app,
            &p.admin,
            &format!("/api/sessions/{id}/{action}"),
            body,
        )
        .await;
        assert_eq!(response.status, StatusCode::CONFLICT, "{action}");
        assert_eq!(response.error_code(), "INVALID_STATE");
    }
    let started = reserved(&app, &p.admin, &auth, 1).await;
    post(
        &app,
        &p.admin,
        &format!("/api/sessions/{started}/start"),
        json!({}),
    )
    .await;
    let twice = post(
        &app,
        &p.admin,
        &format!("/api/sessions/{started}/start"),
        json!({}),
    )
    .await;
    assert_eq!(twice.error_code(), "INVALID_STATE");
    let no_reason = post(
        &app,
        &p.admin,
        &format!("/api/sessions/{started}/cancel"),
        json!({ "reason": " " }),
    )
    .await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    assert_ledger_balanced(&app, p.admin.organization_id).await;
}
