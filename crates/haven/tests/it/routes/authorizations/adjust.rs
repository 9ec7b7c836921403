//! `POST /api/authorizations/{id}/adjust`: bounds, the SPEC messages, units held by open sessions.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::post;
use crate::fixtures::units::{
    assert_ledger_balanced, audited, authorization, ledger_rows, practice, reserved,
};

#[tokio::test]
async fn adjustments_move_used_units_within_bounds_with_the_spec_messages() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let org = p.admin.organization_id;
    let billing = app.user_in(org, Role::Billing).await;
    let clinician = app.user_in(org, Role::Clinician).await;
    let id = authorization(&app, &p.admin, &p.patient, 10).await;
    let path = format!("/api/authorizations/{id}/adjust");

    let up = post(
        &app,
        &billing,
        &path,
        json!({ "adjustment": 4, "reason": "units used at another site" }),
    )
    .await;
    assert_eq!(up.status, StatusCode::OK);
    assert_eq!(up.json()["success"], true);
    assert_eq!(up.json()["authorization"]["usedUnits"], 4);
    let down = post(
        &app,
        &p.admin,
        &path,
        json!({ "adjustment": -3, "reason": "correction" }),
    )
    .await;
    assert_eq!(down.json()["authorization"]["availableUnits"], 9);

    for (adjustment, message) in [
        (-2, "Adjustment would result in negative used units"),
        (10, "Adjustment would exceed total units"),
        (
            -5_000_000_000_i64,
            "Adjustment would result in negative used units",
        ),
        // Within i32 but past any total: refused before the database could overflow int4.
        (i64::from(i32::MAX), "Adjustment would exceed total units"),
        (i64::MIN, "Adjustment would result in negative used units"),
    ] {
        let refused = post(
            &app,
            &p.admin,
            &path,
            json!({ "adjustment": adjustment, "reason": "x" }),
        )
        .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            refused.json(),
            json!({"success": false, "error": "INVALID_ADJUSTMENT", "message": message})
        );
    }
    let zero = post(
        &app,
        &p.admin,
        &path,
        json!({ "adjustment": 0, "reason": "x" }),
    )
    .await;
    assert_eq!(zero.status, StatusCode::BAD_REQUEST);
    let no_reason = post(
        &app,
        &p.admin,
        &path,
        json!({ "adjustment": 1, "reason": "" }),
    )
    .await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    let forbidden = post(
        &app,
        &clinician,
        &path,
        json!({ "adjustment": 1, "reason": "x" }),
    )
    .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

    assert_eq!(
        ledger_rows(&app, &id).await,
        vec![("ADJUST".to_owned(), 4), ("ADJUST".to_owned(), -3)]
    );
    assert_eq!(audited(&app, org, "AUTHORIZATION_ADJUST").await.len(), 2);
    assert_ledger_balanced(&app, org).await;
}

#[tokio::test]
async fn an_adjustment_cannot_take_back_units_that_open_sessions_still_hold() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let id = authorization(&app, &p.admin, &p.patient, 10).await;
    let path = format!("/api/authorizations/{id}/adjust");
    post(
        &app,
        &p.admin,
        &path,
        json!({ "adjustment": 1, "reason": "prior visit" }),
    )
    .await;
    let session = reserved(&app, &p.admin, &id, 3).await;

    let below_held = post(
        &app,
        &p.admin,
        &path,
        json!({ "adjustment": -2, "reason": "x" }),
    )
    .await;
    let down_to_held = post(
        &app,
        &p.admin,
        &path,
        json!({ "adjustment": -1, "reason": "x" }),
    )
    .await;
    let cancel = post(
        &app,
        &p.admin,
        &format!("/api/sessions/{session}/cancel"),
        json!({ "reason": "rescheduled" }),
    )
    .await;

    assert_eq!(below_held.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        below_held.json()["message"],
        "Adjustment would result in negative used units"
    );
    assert_eq!(down_to_held.status, StatusCode::OK);
    assert_eq!(cancel.status, StatusCode::OK);
    assert_eq!(cancel.json()["remainingUnits"], 10);
    assert_ledger_balanced(&app, p.admin.organization_id).await;
}
