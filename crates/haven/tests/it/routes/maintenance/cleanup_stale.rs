//! `POST /api/admin/maintenance/cleanup-stale`: stale reservations released with one ledger and
//! one audit row each.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::maintenance::clean;
use crate::fixtures::post;
use crate::fixtures::units::{
    assert_ledger_balanced, audited, authorization, ledger_rows, practice, session_at, status,
};

#[tokio::test]
async fn stale_reservations_are_released_with_one_ledger_and_audit_row_each() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let org = p.admin.organization_id;
    let auth = authorization(&app, &p.admin, &p.patient, 40).await;
    let stale = [
        session_at(&app, &p.admin, &auth, 1, -180).await,
        session_at(&app, &p.admin, &auth, 2, -180).await,
        session_at(&app, &p.admin, &auth, 3, -200).await,
    ];
    let started = session_at(&app, &p.admin, &auth, 2, -300).await;
    post(
        &app,
        &p.admin,
        &format!("/api/sessions/{started}/start"),
        json!({}),
    )
    .await;
    let current = session_at(&app, &p.admin, &auth, 1, -10).await;
    // Eight units (two hours) that started two hours ago end now: not stale for another hour.
    let long = session_at(&app, &p.admin, &auth, 8, -120).await;
    let done = session_at(&app, &p.admin, &auth, 1, -400).await;
    post(
        &app,
        &p.admin,
        &format!("/api/sessions/{done}/complete"),
        json!({ "actualUnits": 1 }),
    )
    .await;

    let (code, body) = clean(&app, &p.admin, "").await;

    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        body,
        json!({"success": true, "sessionsCleaned": 4, "totalUnitsRecovered": 8, "staleThresholdMinutes": 60})
    );
    for id in stale.iter().chain([&started]) {
        assert_eq!(status(&app, &p.admin, id).await, "CANCELLED");
    }
    assert_eq!(status(&app, &p.admin, &current).await, "SCHEDULED");
    assert_eq!(status(&app, &p.admin, &long).await, "SCHEDULED");
    assert_eq!(status(&app, &p.admin, &done).await, "COMPLETED");
    let released: Vec<_> = ledger_rows(&app, &auth)
        .await
        .into_iter()
        .filter(|(k, _)| k == "STALE_RELEASE")
        .collect();
    assert_eq!(released.len(), 4);
    let events = audited(&app, org, "STALE_RESERVATION_RELEASED").await;
    assert_eq!(events.len(), 4);
    assert!(
        events
            .iter()
            .all(|d| d["authorizationId"] == json!(auth) && d["trigger"] == "api")
    );
    assert_ledger_balanced(&app, org).await;
    let (_, again) = clean(&app, &p.admin, "").await;
    assert_eq!(again["sessionsCleaned"], 0, "nothing is released twice");
}
