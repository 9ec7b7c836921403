//! `POST /api/waitlist-offers/{id}/accept` and `/decline`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use super::{MONDAY_NINE, added, decide, expire_offer, offered, owner_scalar, waitlist_clinic};
use crate::fixtures::scheduling::{on_care_team, text};
use crate::fixtures::units::{
    assert_ledger_balanced, audited, authorization, get_authorization, ledger_rows, patient,
};

async fn appointment_status(app: &TestApp, offer: &serde_json::Value) -> String {
    owner_scalar(
        app,
        "SELECT status FROM calendar_entries WHERE id = $1::uuid",
        offer["appointment"]["id"].as_str().expect("appointment id"),
    )
    .await
}

async fn entry_status(app: &TestApp, entry: &serde_json::Value) -> String {
    owner_scalar(
        app,
        "SELECT status FROM waitlist_entries WHERE id = $1::uuid",
        entry["id"].as_str().expect("entry id"),
    )
    .await
}

#[tokio::test]
async fn accepting_books_the_appointment_and_the_entry_once() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let auth = authorization(&app, &c.admin, &c.patient, 40).await;
    let entry = added(
        &app,
        &c.admin,
        &c.patient,
        json!({ "authorizationId": auth }),
    )
    .await;
    let outcome = offered(&app, &c.scheduler, &entry, &c.clinician, MONDAY_NINE).await;
    let offer = &outcome["offer"];

    let accepted = decide(&app, &c.scheduler, offer, "accept", json!({})).await;
    let again = decide(&app, &c.scheduler, offer, "accept", json!({})).await;

    assert_eq!(accepted.status, StatusCode::OK, "{}", text(&accepted));
    let body = accepted.json();
    assert_eq!(body["offer"]["status"], "ACCEPTED");
    assert_eq!(body["offer"]["appointment"]["status"], "BOOKED");
    assert_eq!(body["remainingUnits"], 36);
    assert_eq!(appointment_status(&app, offer).await, "BOOKED");
    assert_eq!(entry_status(&app, &entry).await, "BOOKED");
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "INVALID_STATE");
    for action in ["WAITLIST_OFFER_ACCEPT", "APPOINTMENT_CONFIRM"] {
        assert_eq!(
            audited(&app, c.admin.organization_id, action).await.len(),
            1,
            "{action}"
        );
    }
    assert_eq!(
        ledger_rows(&app, &auth).await.len(),
        1,
        "one RESERVE, nothing else"
    );
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn declining_releases_the_hold_and_units_and_the_entry_keeps_waiting() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let auth = authorization(&app, &c.admin, &c.patient, 40).await;
    let entry = added(
        &app,
        &c.admin,
        &c.patient,
        json!({ "authorizationId": auth }),
    )
    .await;
    let outcome = offered(&app, &c.scheduler, &entry, &c.clinician, MONDAY_NINE).await;
    let offer = &outcome["offer"];

    let no_reason = decide(&app, &c.scheduler, offer, "decline", json!({})).await;
    let declined = decide(
        &app,
        &c.scheduler,
        offer,
        "decline",
        json!({ "reason": "Too early" }),
    )
    .await;

    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    assert_eq!(declined.status, StatusCode::OK, "{}", text(&declined));
    assert_eq!(declined.json()["offer"]["status"], "DECLINED");
    assert_eq!(declined.json()["remainingUnits"], 40);
    assert_eq!(appointment_status(&app, offer).await, "CANCELLED");
    assert_eq!(entry_status(&app, &entry).await, "ACTIVE");
    assert_eq!(
        get_authorization(&app, &c.admin, &auth).await["usedUnits"],
        0
    );
    for action in [
        "WAITLIST_OFFER_DECLINE",
        "APPOINTMENT_CANCEL",
        "SESSION_CANCEL",
    ] {
        assert_eq!(
            audited(&app, c.admin.organization_id, action).await.len(),
            1,
            "{action}"
        );
    }
    let again = offered(&app, &c.scheduler, &entry, &c.clinician, MONDAY_NINE).await;
    assert_eq!(
        again["offer"]["status"], "PENDING",
        "slot and entry are free again"
    );
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn an_expired_offer_is_409_offer_expired_and_its_hold_and_units_are_released() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let auth = authorization(&app, &c.admin, &c.patient, 40).await;
    let entry = added(
        &app,
        &c.admin,
        &c.patient,
        json!({ "authorizationId": auth }),
    )
    .await;
    let outcome = offered(&app, &c.scheduler, &entry, &c.clinician, MONDAY_NINE).await;
    let offer = &outcome["offer"];
    expire_offer(&app, offer).await;

    let accepted = decide(&app, &c.scheduler, offer, "accept", json!({})).await;

    assert_eq!(accepted.status, StatusCode::CONFLICT);
    assert_eq!(accepted.error_code(), "OFFER_EXPIRED");
    assert_eq!(appointment_status(&app, offer).await, "CANCELLED");
    assert_eq!(entry_status(&app, &entry).await, "ACTIVE");
    assert_eq!(
        get_authorization(&app, &c.admin, &auth).await["usedUnits"],
        0
    );
    let rows = ledger_rows(&app, &auth).await;
    assert_eq!(rows.len(), 2, "RESERVE then one RELEASE: {rows:?}");
    assert_eq!(
        audited(&app, c.admin.organization_id, "WAITLIST_OFFER_EXPIRED")
            .await
            .len(),
        1
    );
    let declined = decide(
        &app,
        &c.scheduler,
        offer,
        "decline",
        json!({ "reason": "late" }),
    )
    .await;
    assert_eq!(declined.error_code(), "INVALID_STATE");
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn someone_else_s_offer_is_refused() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;
    let outcome = offered(&app, &c.scheduler, &entry, &c.clinician, MONDAY_NINE).await;
    let offer = &outcome["offer"];
    let billing = app.user_in(c.admin.organization_id, Role::Billing).await;
    let colleague = app.user_in(c.admin.organization_id, Role::Clinician).await;
    let other = app.org_with("Practice B", Role::Scheduler).await;
    let stranger_patient = patient(&app, &c.admin, "MRN-OTHER").await;
    on_care_team(&app, &c.admin, &stranger_patient, &colleague).await;

    let by_billing = decide(&app, &billing, offer, "accept", json!({})).await;
    let by_colleague = decide(&app, &colleague, offer, "accept", json!({})).await;
    let by_other = decide(&app, &other, offer, "accept", json!({})).await;
    let other_decline = decide(&app, &other, offer, "decline", json!({ "reason": "no" })).await;

    assert_eq!(by_billing.status, StatusCode::FORBIDDEN);
    assert_eq!(
        by_colleague.status,
        StatusCode::NOT_FOUND,
        "not their patient"
    );
    assert_eq!(by_other.status, StatusCode::NOT_FOUND);
    assert_eq!(other_decline.status, StatusCode::NOT_FOUND);
    assert_eq!(
        audited(&app, other.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
            .len(),
        2
    );
    assert_eq!(appointment_status(&app, offer).await, "HELD");
    let mine = decide(&app, &c.clinician, offer, "accept", json!({})).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", text(&mine));
}
