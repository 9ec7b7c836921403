//! `POST /api/waitlist/{id}/offers`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use super::{MONDAY_NINE, added, offer, offered, owner_exec, owner_scalar, waitlist_clinic};
use crate::fixtures::scheduling::{booked, text};
use crate::fixtures::units::{
    assert_ledger_balanced, audited, authorization, get_authorization, patient,
};

async fn held(app: &TestApp, org: &str) -> i64 {
    owner_scalar(
        app,
        "SELECT count(*) FROM calendar_entries WHERE organization_id = $1::uuid AND status = 'HELD'",
        org,
    )
    .await
}

#[tokio::test]
async fn an_offer_holds_the_slot_and_reserves_the_entry_s_units() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let auth = authorization(&app, &c.admin, &c.patient, 40).await;
    owner_exec(
        &app,
        "UPDATE authorizations SET end_date = '2027-12-31' WHERE id = $1::uuid",
        &auth,
    )
    .await;
    let entry = added(
        &app,
        &c.admin,
        &c.patient,
        json!({ "authorizationId": auth }),
    )
    .await;

    let response = offer(
        &app,
        &c.scheduler,
        &entry,
        &c.clinician,
        MONDAY_NINE,
        json!({ "ttlMinutes": 120 }),
    )
    .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    let body = response.json();
    assert_eq!(body["offer"]["status"], "PENDING");
    assert_eq!(body["offer"]["appointment"]["status"], "HELD");
    assert_eq!(body["remainingUnits"], 36);
    assert_eq!(
        get_authorization(&app, &c.admin, &auth).await["usedUnits"],
        4
    );
    let other = patient(&app, &c.admin, "MRN-TWO").await;
    let taken = crate::fixtures::scheduling::book(
        &app,
        &c.admin,
        &other,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;
    assert_eq!(
        taken.status,
        StatusCode::CONFLICT,
        "the hold protects the slot"
    );
    assert_eq!(taken.error_code(), "SCHEDULE_CONFLICT");
    for action in [
        "WAITLIST_OFFER_CREATE",
        "APPOINTMENT_HOLD",
        "SESSION_RESERVE",
    ] {
        assert_eq!(
            audited(&app, c.admin.organization_id, action).await.len(),
            1,
            "{action}"
        );
    }
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn one_pending_offer_per_entry_and_per_slot() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let second = patient(&app, &c.admin, "MRN-TWO").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;
    let other_entry = added(&app, &c.admin, &second, json!({})).await;
    offered(&app, &c.scheduler, &entry, &c.clinician, MONDAY_NINE).await;

    let same_entry = offer(
        &app,
        &c.scheduler,
        &entry,
        &c.clinician,
        "2027-03-15T15:00:00Z",
        json!({}),
    )
    .await;
    let same_slot = offer(
        &app,
        &c.scheduler,
        &other_entry,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;

    assert_eq!(same_entry.status, StatusCode::CONFLICT);
    assert_eq!(same_entry.error_code(), "CONFLICT");
    assert_eq!(same_slot.status, StatusCode::CONFLICT);
    assert_eq!(same_slot.error_code(), "SCHEDULE_CONFLICT");
    assert_eq!(held(&app, &c.admin.organization_id.to_string()).await, 1);
}

#[tokio::test]
async fn bad_input_and_a_taken_slot_are_refused_and_nothing_is_held() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let second = patient(&app, &c.admin, "MRN-TWO").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;
    booked(
        &app,
        &c.admin,
        &second,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;

    let short = offer(
        &app,
        &c.admin,
        &entry,
        &c.clinician,
        "2027-03-16T13:00:00Z",
        json!({ "ttlMinutes": 4 }),
    )
    .await;
    let long = offer(
        &app,
        &c.admin,
        &entry,
        &c.clinician,
        "2027-03-16T13:00:00Z",
        json!({ "ttlMinutes": 2881 }),
    )
    .await;
    let bad_start = offer(
        &app,
        &c.admin,
        &entry,
        &c.clinician,
        "monday",
        json!({ "durationMinutes": 5 }),
    )
    .await;
    let taken = offer(&app, &c.admin, &entry, &c.clinician, MONDAY_NINE, json!({})).await;
    let outside = offer(
        &app,
        &c.admin,
        &entry,
        &c.clinician,
        "2027-03-20T13:00:00Z",
        json!({}),
    )
    .await;

    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.json()["details"]["ttlMinutes"].is_string());
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_start.status, StatusCode::BAD_REQUEST);
    assert!(bad_start.json()["details"]["start"].is_string());
    assert!(bad_start.json()["details"]["durationMinutes"].is_string());
    assert_eq!(taken.error_code(), "SCHEDULE_CONFLICT");
    assert_eq!(outside.error_code(), "OUTSIDE_AVAILABILITY", "a Saturday");
    assert_eq!(held(&app, &c.admin.organization_id.to_string()).await, 0);
    let offers: i64 = owner_scalar(
        &app,
        "SELECT count(*) FROM waitlist_offers WHERE organization_id = $1::uuid",
        &c.admin.organization_id.to_string(),
    )
    .await;
    assert_eq!(offers, 0);
}

#[tokio::test]
async fn roles_and_tenants_are_checked_before_anything_is_held() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;
    let billing = app.user_in(c.admin.organization_id, Role::Billing).await;
    let colleague = app.user_in(c.admin.organization_id, Role::Clinician).await;
    let other = app.org_with("Practice B", Role::Scheduler).await;

    let by_billing = offer(&app, &billing, &entry, &c.clinician, MONDAY_NINE, json!({})).await;
    let on_colleague = offer(
        &app,
        &c.clinician,
        &entry,
        &colleague,
        MONDAY_NINE,
        json!({}),
    )
    .await;
    let by_other = offer(&app, &other, &entry, &c.clinician, MONDAY_NINE, json!({})).await;
    let own_calendar = offer(
        &app,
        &c.clinician,
        &entry,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;

    assert_eq!(by_billing.status, StatusCode::FORBIDDEN);
    assert_eq!(on_colleague.status, StatusCode::FORBIDDEN);
    assert_eq!(by_other.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(other.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
    assert_eq!(
        own_calendar.status,
        StatusCode::CREATED,
        "{}",
        text(&own_calendar)
    );
}

#[tokio::test]
async fn an_entry_that_no_longer_waits_gets_no_offer() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;
    owner_exec(
        &app,
        "UPDATE waitlist_entries SET expires_at = now() - interval '1 minute' WHERE id = $1::uuid",
        entry["id"].as_str().expect("id"),
    )
    .await;

    let response = offer(&app, &c.admin, &entry, &c.clinician, MONDAY_NINE, json!({})).await;

    assert_eq!(response.error_code(), "INVALID_STATE");
    assert_eq!(held(&app, &c.admin.organization_id.to_string()).await, 0);
}
