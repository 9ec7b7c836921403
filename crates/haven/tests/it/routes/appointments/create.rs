//! `POST /api/appointments`: availability, conflicts, roles, tenants.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::scheduling::{book, booked, clinic, set_availability, text};
use crate::fixtures::units::patient;

// Monday 2027-03-15 is after the spring change: New York is UTC-4, 09:00 local = 13:00Z.
const MONDAY_NINE: &str = "2027-03-15T13:00:00Z";

#[tokio::test]
async fn a_scheduler_books_a_patient_within_the_clinicians_hours() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;

    let response = book(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    let body = response.json();
    assert_eq!(body["success"], true);
    let appointment = &body["appointment"];
    assert_eq!(appointment["status"], "BOOKED");
    assert_eq!(appointment["start"], MONDAY_NINE);
    assert_eq!(appointment["end"], "2027-03-15T14:00:00Z");
    assert_eq!(appointment["version"], 1);
    assert_eq!(appointment["sessionId"], serde_json::Value::Null);
    assert_eq!(body["remainingUnits"], serde_json::Value::Null);
    assert!(
        app.audited(c.admin.organization_id, "APPOINTMENT_BOOK")
            .await
    );
}

#[tokio::test]
async fn wall_times_hold_across_both_2027_dst_changes() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    // Every day of the week, 09:00–17:00 New York time.
    let every_day = json!({
        "timeZone": "America/New_York",
        "rules": [{ "daysOfWeek": ["MO","TU","WE","TH","FR","SA","SU"], "startTime": "09:00", "endTime": "17:00" }],
        "effectiveFrom": "2027-01-01",
    });
    let set = set_availability(&app, &c.admin, &c.clinician.id.to_string(), &every_day).await;
    assert_eq!(set.status, StatusCode::OK);
    // (start, inside?) — 09:00 local is 14:00Z in winter (UTC-5), 13:00Z in summer (UTC-4).
    let cases = [
        ("2027-03-13T14:00:00Z", true), // Sat before the spring change: 09:00 EST
        ("2027-03-13T13:00:00Z", false), // 08:00 EST
        ("2027-03-14T13:00:00Z", true), // the change day itself: 09:00 EDT
        ("2027-03-14T12:30:00Z", false), // 08:30 EDT
        ("2027-03-14T20:00:00Z", true), // 16:00–17:00 EDT
        ("2027-03-14T21:00:00Z", false), // 17:00 EDT
        ("2027-11-06T13:00:00Z", true), // Sat before the fall change: 09:00 EDT
        ("2027-11-07T13:00:00Z", false), // the change day: 08:00 EST
        ("2027-11-07T14:00:00Z", true), // 09:00 EST
        ("2027-11-07T21:00:00Z", true), // 16:00–17:00 EST
        ("2027-11-07T22:00:00Z", false), // 17:00 EST
    ];
    for (start, inside) in cases {
        let response = book(&app, &c.admin, &c.patient, &c.clinician, start, json!({})).await;

        if inside {
            assert_eq!(
                response.status,
                StatusCode::CREATED,
                "{start}: {}",
                text(&response)
            );
        } else {
            assert_eq!(response.status, StatusCode::CONFLICT, "{start}");
            assert_eq!(response.error_code(), "OUTSIDE_AVAILABILITY", "{start}");
        }
    }
}

#[tokio::test]
async fn the_clinicians_buffer_and_the_patients_time_are_both_guarded() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 15).await;
    let other = patient(&app, &c.admin, "MRN-OTHER").await;
    let colleague = app.user_in(c.admin.organization_id, Role::Clinician).await;
    let hours = crate::fixtures::scheduling::week_body(0);
    set_availability(&app, &c.admin, &colleague.id.to_string(), &hours).await;
    booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;

    // 10:00–11:00 for another patient: inside the clinician's 15-minute buffer.
    let in_buffer = book(
        &app,
        &c.admin,
        &other,
        &c.clinician,
        "2027-03-15T14:00:00Z",
        json!({}),
    )
    .await;
    // 10:15: after the buffer.
    let after_buffer = book(
        &app,
        &c.admin,
        &other,
        &c.clinician,
        "2027-03-15T14:15:00Z",
        json!({}),
    )
    .await;
    // The same patient with another clinician at an overlapping time.
    let same_patient = book(
        &app,
        &c.admin,
        &c.patient,
        &colleague,
        "2027-03-15T13:30:00Z",
        json!({}),
    )
    .await;

    assert_eq!(in_buffer.status, StatusCode::CONFLICT);
    assert_eq!(in_buffer.json()["error"], "SCHEDULE_CONFLICT");
    assert_eq!(in_buffer.json()["details"]["conflictWith"], "clinician");
    assert_eq!(
        after_buffer.status,
        StatusCode::CREATED,
        "{}",
        text(&after_buffer)
    );
    assert_eq!(same_patient.status, StatusCode::CONFLICT);
    assert_eq!(same_patient.json()["details"]["conflictWith"], "patient");
    // PostgreSQL's detail names the other row's times and ids: none of it reaches the client.
    for response in [&in_buffer, &same_patient] {
        let body = text(response);
        assert!(!body.contains("2027-03-15"), "{body}");
        assert!(
            !body.contains("tstzrange") && !body.contains(&c.patient),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_linked_concurrent_appointment_may_overlap_the_one_it_names() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let bcba = app.user_in(c.admin.organization_id, Role::Clinician).await;
    let hours = crate::fixtures::scheduling::week_body(0);
    set_availability(&app, &c.admin, &bcba.id.to_string(), &hours).await;
    let first = booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;

    let linked = book(
        &app,
        &c.admin,
        &c.patient,
        &bcba,
        "2027-03-15T13:30:00Z",
        json!({ "serviceCode": "97155", "durationMinutes": 30, "concurrentWithAppointmentId": first["id"] }),
    )
    .await;

    assert_eq!(linked.status, StatusCode::CREATED, "{}", text(&linked));
    assert_eq!(
        linked.json()["appointment"]["concurrentWithAppointmentId"],
        first["id"]
    );
}

#[tokio::test]
async fn invalid_bookings_name_the_field_and_write_nothing() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let cases = [
        (json!({ "durationMinutes": 10 }), "durationMinutes"),
        (json!({ "durationMinutes": 481 }), "durationMinutes"),
        (json!({ "start": "next monday" }), "start"),
        (json!({ "serviceCode": "9" }), "serviceCode"),
        (json!({ "expectedUnits": 4 }), "expectedUnits"),
        (json!({ "hold": { "ttlMinutes": 0 } }), "hold.ttlMinutes"),
    ];
    for (extra, field) in cases {
        let response = book(&app, &c.admin, &c.patient, &c.clinician, MONDAY_NINE, extra).await;

        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{field}");
        assert!(
            response.json()["details"][field].is_string(),
            "{field}: {}",
            text(&response)
        );
    }
    let unknown = book(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({ "room": 4 }),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    for off_grid in ["2027-03-15T13:07:00Z", "2027-03-15T13:05:30Z"] {
        let response = book(
            &app,
            &c.admin,
            &c.patient,
            &c.clinician,
            off_grid,
            json!({}),
        )
        .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{off_grid}");
        assert!(
            response.json()["details"]["start"].is_string(),
            "{off_grid}"
        );
    }
    let list = app.get_as(&c.admin, "/api/appointments").await.json();
    assert_eq!(list["pagination"]["total"], 0);
}

#[tokio::test]
async fn only_staff_who_schedule_may_book_and_clinicians_on_their_own_calendar() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let billing = app.user_in(c.admin.organization_id, Role::Billing).await;
    let colleague = app.user_in(c.admin.organization_id, Role::Clinician).await;
    let stranger_patient = patient(&app, &c.admin, "MRN-NOT-MINE").await;

    let by_billing = book(
        &app,
        &billing,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;
    let for_colleague = book(
        &app,
        &colleague,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;
    let off_team = book(
        &app,
        &c.clinician,
        &stranger_patient,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;
    let clinician_override = book(
        &app,
        &c.clinician,
        &c.patient,
        &c.clinician,
        "2027-03-15T03:00:00Z",
        json!({ "overrideAvailability": true }),
    )
    .await;
    let own = book(
        &app,
        &c.clinician,
        &c.patient,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;

    assert_eq!(by_billing.status, StatusCode::FORBIDDEN);
    assert_eq!(for_colleague.status, StatusCode::FORBIDDEN);
    assert_eq!(off_team.status, StatusCode::NOT_FOUND);
    assert_eq!(clinician_override.status, StatusCode::FORBIDDEN);
    assert_eq!(own.status, StatusCode::CREATED, "{}", text(&own));
    assert!(app.audited(c.admin.organization_id, "ACCESS_DENIED").await);
}

#[tokio::test]
async fn a_scheduler_may_book_outside_availability_and_it_is_audited() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let saturday = "2027-03-20T15:00:00Z";

    let refused = book(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        saturday,
        json!({}),
    )
    .await;
    let overridden = book(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        saturday,
        json!({ "overrideAvailability": true }),
    )
    .await;

    assert_eq!(refused.error_code(), "OUTSIDE_AVAILABILITY");
    assert_eq!(
        overridden.status,
        StatusCode::CREATED,
        "{}",
        text(&overridden)
    );
    assert_eq!(
        overridden.json()["appointment"]["availabilityOverridden"],
        true
    );
    assert!(
        app.audited(c.admin.organization_id, "AVAILABILITY_OVERRIDE")
            .await
    );
}

#[tokio::test]
async fn another_practices_patient_or_clinician_is_not_found_and_audited() {
    let app = TestApp::new().await;
    let a = clinic(&app, "Practice A", 0).await;
    let b = clinic(&app, "Practice B", 0).await;

    let their_patient = book(
        &app,
        &b.scheduler,
        &a.patient,
        &b.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;
    let their_clinician = book(
        &app,
        &b.scheduler,
        &b.patient,
        &a.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;

    assert_eq!(their_patient.status, StatusCode::NOT_FOUND);
    assert_eq!(their_clinician.status, StatusCode::NOT_FOUND);
    let attempts = app
        .audit_events(b.admin.organization_id)
        .await
        .into_iter()
        .filter(|(action, _, _)| action == "CROSS_TENANT_ACCESS_ATTEMPT")
        .count();
    assert_eq!(attempts, 2);
    assert!(
        !app.audited(a.admin.organization_id, "APPOINTMENT_BOOK")
            .await
    );
}
