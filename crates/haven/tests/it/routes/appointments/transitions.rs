//! `POST /api/appointments/{id}/confirm|check-in|cancel|no-show`, and session completion.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::{TestApp, TestResponse, TestUser};
use serde_json::{Value, json};

use crate::fixtures::scheduling::{booked, clinic, text};
use crate::fixtures::units::{
    as_owner, assert_ledger_balanced, authorization, get_authorization, ledger_rows, post,
};

const MONDAY_NINE: &str = "2027-03-15T13:00:00Z";

async fn act(
    app: &TestApp,
    user: &TestUser,
    id: &Value,
    action: &str,
    body: Value,
) -> TestResponse {
    let id = id.as_str().expect("id");
    post(app, user, &format!("/api/appointments/{id}/{action}"), body).await
}

#[tokio::test]
async fn a_hold_is_confirmed_before_it_expires() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let held = booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({ "hold": { "ttlMinutes": 10 } }),
    )
    .await;
    assert_eq!(held["status"], "HELD");
    assert!(held["holdExpiresAt"].is_string());

    let confirmed = act(&app, &c.scheduler, &held["id"], "confirm", json!({})).await;

    assert_eq!(confirmed.status, StatusCode::OK, "{}", text(&confirmed));
    let appointment = confirmed.json()["appointment"].clone();
    assert_eq!(appointment["status"], "BOOKED");
    assert_eq!(appointment["holdExpiresAt"], Value::Null);
    assert_eq!(appointment["version"], 2);
    let org = c.admin.organization_id;
    assert!(app.audited(org, "APPOINTMENT_HOLD").await);
    assert!(app.audited(org, "APPOINTMENT_CONFIRM").await);
}

#[tokio::test]
async fn an_expired_hold_cannot_be_confirmed_even_before_the_job_runs() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let held = booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({ "hold": { "ttlMinutes": 10 } }),
    )
    .await;
    as_owner(
        &app,
        "UPDATE calendar_entries SET hold_expires_at = now() - interval '1 minute' WHERE id = $1::uuid",
        held["id"].as_str().expect("id"),
    )
    .await;

    let response = act(&app, &c.scheduler, &held["id"], "confirm", json!({})).await;

    assert_eq!(response.status, StatusCode::CONFLICT);
    assert_eq!(response.error_code(), "HOLD_EXPIRED");
}

#[tokio::test]
async fn check_in_starts_the_session_and_its_completion_fulfils_the_appointment() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 40).await;
    let appointment = booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({ "authorizationId": auth }),
    )
    .await;

    let checked_in = act(
        &app,
        &c.scheduler,
        &appointment["id"],
        "check-in",
        json!({}),
    )
    .await;

    assert_eq!(checked_in.status, StatusCode::OK, "{}", text(&checked_in));
    assert_eq!(checked_in.json()["appointment"]["status"], "CHECKED_IN");
    let session = appointment["sessionId"].as_str().expect("session");
    let read = app
        .get_as(&c.admin, &format!("/api/sessions/{session}"))
        .await
        .json();
    assert_eq!(read["session"]["status"], "IN_PROGRESS");
    let completed = post(
        &app,
        &c.clinician,
        &format!("/api/sessions/{session}/complete"),
        json!({ "actualUnits": 4 }),
    )
    .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", text(&completed));
    let id = appointment["id"].as_str().expect("id");
    let after = app
        .get_as(&c.admin, &format!("/api/appointments/{id}"))
        .await
        .json();
    assert_eq!(after["appointment"]["status"], "FULFILLED");
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn cancel_and_no_show_release_the_units_and_are_final() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 40).await;
    let first = booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({ "authorizationId": auth }),
    )
    .await;
    let second = booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        "2027-03-16T13:00:00Z",
        json!({ "authorizationId": auth }),
    )
    .await;

    let cancelled = act(
        &app,
        &c.scheduler,
        &first["id"],
        "cancel",
        json!({ "reason": "Family emergency" }),
    )
    .await;
    let no_show = act(&app, &c.scheduler, &second["id"], "no-show", json!({})).await;
    let again = act(
        &app,
        &c.scheduler,
        &first["id"],
        "cancel",
        json!({ "reason": "Twice" }),
    )
    .await;
    let blank = act(
        &app,
        &c.scheduler,
        &second["id"],
        "cancel",
        json!({ "reason": " " }),
    )
    .await;

    assert_eq!(cancelled.status, StatusCode::OK, "{}", text(&cancelled));
    assert_eq!(cancelled.json()["appointment"]["status"], "CANCELLED");
    assert_eq!(no_show.json()["appointment"]["status"], "NO_SHOW");
    assert_eq!(no_show.json()["remainingUnits"], 40);
    assert_eq!(again.error_code(), "INVALID_STATE");
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        get_authorization(&app, &c.admin, &auth).await["usedUnits"],
        0
    );
    let kinds: Vec<String> = ledger_rows(&app, &auth)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "RELEASE").count(),
        2,
        "{kinds:?}"
    );
    assert_ledger_balanced(&app, c.admin.organization_id).await;
    // The time is free again.
    booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;
}

#[tokio::test]
async fn billing_may_not_move_appointments_nor_another_practice() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let appointment = booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;
    let billing = app.user_in(c.admin.organization_id, Role::Billing).await;
    let other = app.org_with("Practice B", Role::Scheduler).await;

    let by_billing = act(&app, &billing, &appointment["id"], "check-in", json!({})).await;
    let by_other = act(
        &app,
        &other,
        &appointment["id"],
        "cancel",
        json!({ "reason": "x" }),
    )
    .await;

    assert_eq!(by_billing.status, StatusCode::FORBIDDEN);
    assert_eq!(by_other.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(other.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
    let read = app
        .get_as(
            &c.admin,
            &format!(
                "/api/appointments/{}",
                appointment["id"].as_str().expect("id")
            ),
        )
        .await
        .json();
    assert_eq!(read["appointment"]["status"], "BOOKED");
}

#[tokio::test]
async fn cancelling_the_session_directly_cancels_its_appointment_and_frees_the_time() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 40).await;
    let appointment = booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({ "authorizationId": auth }),
    )
    .await;
    let session = appointment["sessionId"].as_str().expect("session");

    let cancelled = post(
        &app,
        &c.admin,
        &format!("/api/sessions/{session}/cancel"),
        json!({ "reason": "family emergency" }),
    )
    .await;

    assert_eq!(cancelled.status, StatusCode::OK, "{}", text(&cancelled));
    let id = appointment["id"].as_str().expect("id");
    let after = app
        .get_as(&c.admin, &format!("/api/appointments/{id}"))
        .await
        .json();
    assert_eq!(after["appointment"]["status"], "CANCELLED");
    let rebooked = booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;
    assert_eq!(rebooked["status"], "BOOKED", "the slot is free again");
    assert_eq!(
        get_authorization(&app, &c.admin, &auth).await["usedUnits"],
        0
    );
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}
