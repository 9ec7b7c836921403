//! Shared set-up for the scheduling tests: a practice in America/New_York with a clinician,
//! a scheduler and a patient on the clinician's care team.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::{TestApp, TestResponse, TestUser};
use serde_json::{Value, json};

use crate::units_fixtures::patient;

pub(crate) struct Clinic {
    pub(crate) admin: TestUser,
    pub(crate) clinician: TestUser,
    pub(crate) scheduler: TestUser,
    pub(crate) patient: String,
}

/// A practice whose clinician works Monday to Friday 09:00–17:00 New York time, from
/// 2026-01-01, with `buffer` minutes after each appointment.
pub(crate) async fn clinic(app: &TestApp, name: &str, buffer: i64) -> Clinic {
    let admin = app.org_with(name, Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let scheduler = app.user_in(admin.organization_id, Role::Scheduler).await;
    let patient = patient(app, &admin, "MRN-SCHED-1").await;
    on_care_team(app, &admin, &patient, &clinician).await;
    let set = set_availability(app, &admin, &clinician.id.to_string(), &week_body(buffer)).await;
    assert_eq!(set.status, StatusCode::OK, "{}", text(&set));
    Clinic {
        admin,
        clinician,
        scheduler,
        patient,
    }
}

pub(crate) fn week_body(buffer: i64) -> Value {
    json!({
        "timeZone": "America/New_York",
        "rules": [{ "daysOfWeek": ["MO", "TU", "WE", "TH", "FR"], "startTime": "09:00", "endTime": "17:00" }],
        "bufferMinutes": buffer,
        "effectiveFrom": "2026-01-01",
    })
}

pub(crate) async fn on_care_team(app: &TestApp, admin: &TestUser, patient: &str, user: &TestUser) {
    let added = app
        .json_as(
            admin,
            Method::POST,
            &format!("/api/patients/{patient}/care-team"),
            &json!({ "userId": user.id }),
        )
        .await;
    assert!(added.status.is_success(), "{}", text(&added));
}

pub(crate) async fn set_availability(
    app: &TestApp,
    user: &TestUser,
    clinician: &str,
    body: &Value,
) -> TestResponse {
    app.json_as(
        user,
        Method::PUT,
        &format!("/api/clinicians/{clinician}/availability"),
        body,
    )
    .await
}

pub(crate) fn text(response: &TestResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}
/// `POST /api/appointments` with `extra` fields merged into a 60-minute 97153 booking.
pub(crate) async fn book(
    app: &TestApp,
    user: &TestUser,
    patient: &str,
    clinician: &TestUser,
    start: &str,
    extra: Value,
) -> TestResponse {
    let mut body = json!({
        "patientId": patient,
        "clinicianId": clinician.id,
        "start": start,
        "durationMinutes": 60,
        "serviceCode": "97153",
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    app.json_as(user, Method::POST, "/api/appointments", &body)
        .await
}

/// Books and returns the appointment (asserting 201).
pub(crate) async fn booked(
    app: &TestApp,
    user: &TestUser,
    patient: &str,
    clinician: &TestUser,
    start: &str,
    extra: Value,
) -> Value {
    let response = book(app, user, patient, clinician, start, extra).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    response.json()["appointment"].clone()
}
