//! `POST /api/charges/{id}/hold|release|void` `{reason}`.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::charges::{act, charge_clinic, charged, ready};
use crate::fixtures::notes::text;
use crate::fixtures::units::audited;

#[tokio::test]
async fn a_manual_hold_keeps_a_ready_charge_pending_until_released() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let charge = ready(&app, &k, 2).await;

    let held = act(
        &app,
        &k.c.billing,
        &charge["id"],
        "hold",
        "Payer asked for records",
    )
    .await;

    assert_eq!(held.status, StatusCode::OK, "{}", text(&held));
    let held = held.json()["charge"].clone();
    assert_eq!(held["status"], "PENDING");
    assert_eq!(held["holdReasons"], json!(["MANUAL"]));
    assert_eq!(held["manualHoldReason"], "Payer asked for records");

    let released = act(&app, &k.c.admin, &charge["id"], "release", "Records sent").await;

    assert_eq!(released.status, StatusCode::OK, "{}", text(&released));
    let released = released.json()["charge"].clone();
    assert_eq!(released["status"], "READY");
    assert_eq!(released["holdReasons"], json!([]));
    assert_eq!(released["manualHoldReason"], json!(null));
    let org = k.c.admin.organization_id;
    let holds = audited(&app, org, "CHARGE_HOLD").await;
    assert_eq!(
        holds,
        vec![json!({ "from": "READY", "to": "PENDING" })],
        "no reason text in the trail"
    );
    assert_eq!(audited(&app, org, "CHARGE_RELEASE").await.len(), 1);
}

#[tokio::test]
async fn releasing_a_charge_not_held_by_hand_answers_409() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let charge = charged(&app, &k, 2, 2).await;

    let response = act(
        &app,
        &k.c.billing,
        &charge["id"],
        "release",
        "Nothing to release",
    )
    .await;

    assert_eq!(response.status, StatusCode::CONFLICT);
    assert_eq!(response.error_code(), "INVALID_STATE");
}

#[tokio::test]
async fn a_void_is_final_and_a_second_void_answers_409() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let charge = charged(&app, &k, 2, 2).await;

    let voided = act(&app, &k.c.billing, &charge["id"], "void", "Duplicate entry").await;

    assert_eq!(voided.status, StatusCode::OK, "{}", text(&voided));
    assert_eq!(voided.json()["charge"]["status"], "VOID");
    assert_eq!(voided.json()["charge"]["voidReason"], "Duplicate entry");
    let again = act(&app, &k.c.billing, &charge["id"], "void", "Again").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "INVALID_STATE");
    let hold = act(&app, &k.c.billing, &charge["id"], "hold", "Too late").await;
    assert_eq!(hold.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_missing_or_malformed_reason_answers_400() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let charge = charged(&app, &k, 2, 2).await;
    for action in ["hold", "release", "void"] {
        for reason in ["", "   ", "two\nlines"] {
            let response = act(&app, &k.c.billing, &charge["id"], action, reason).await;
            assert_eq!(
                response.status,
                StatusCode::BAD_REQUEST,
                "{action} {reason:?}"
            );
            assert_eq!(response.error_code(), "VALIDATION_ERROR");
        }
    }
}
