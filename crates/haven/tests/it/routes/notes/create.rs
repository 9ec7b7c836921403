//! `POST /api/notes`.

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::notes::{audited_note, note_clinic, soap, text};
use crate::fixtures::scheduling::booked;

async fn note_count(app: &TestApp) -> i64 {
    let owner = app.db().owner_pool().await;
    sqlx::query_scalar("SELECT count(*) FROM notes")
        .fetch_one(&owner)
        .await
        .expect("count")
}

#[tokio::test]
async fn a_clinician_writes_a_draft_due_72_hours_after_the_appointment() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let appointment = booked(
        &app,
        &c.admin,
        &c.patient,
        &c.author,
        "2027-03-15T13:00:00Z",
        json!({ "overrideAvailability": true }),
    )
    .await;
    let mut body = soap(&c.patient, "PROGRESS");
    body["appointmentId"] = appointment["id"].clone();

    let created = app
        .json_as(&c.author, Method::POST, "/api/notes", &body)
        .await;

    assert_eq!(created.status, StatusCode::CREATED, "{}", text(&created));
    let note = &created.json()["note"];
    assert_eq!(note["status"], "DRAFT");
    assert_eq!(note["version"], 1);
    assert_eq!(note["authorId"], c.author.id.to_string());
    assert_eq!(note["diagnosisCodes"], json!(["F84.0"]));
    assert_eq!(note["dueAt"], "2027-03-18T13:00:00Z");
    assert!(
        note.get("sections").is_none(),
        "the answer carries no content"
    );
    let id = note["id"].as_str().expect("id");
    assert_eq!(audited_note(&app, &c.admin, "NOTE_CREATE", id).await, 1);
}

#[tokio::test]
async fn the_due_time_follows_the_practice_setting() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let set = app
        .json_as(
            &c.admin,
            Method::PATCH,
            "/api/organization/settings",
            &json!({ "noteDueHours": 24 }),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", text(&set));
    assert_eq!(set.json()["settings"]["noteDueHours"], 24);

    let created = app
        .json_as(
            &c.author,
            Method::POST,
            "/api/notes",
            &soap(&c.patient, "PROGRESS"),
        )
        .await;

    let note = created.json()["note"].clone();
    let service: DateTime<Utc> = note["serviceAt"]
        .as_str()
        .expect("at")
        .parse()
        .expect("time");
    let due: DateTime<Utc> = note["dueAt"].as_str().expect("due").parse().expect("time");
    assert_eq!(due - service, Duration::hours(24));
}

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let cases = [
        ("noteType", json!({ "noteType": "GOSSIP" })),
        ("format", json!({ "format": "HAIKU" })),
        (
            "sections.text",
            json!({ "sections": { "text": "not a SOAP section" } }),
        ),
        ("diagnosisCodes", json!({ "diagnosisCodes": ["F84-0"] })),
        ("diagnosisCodes", json!({ "diagnosisCodes": ["U07.1"] })),
    ];
    for (field, patch) in cases {
        let mut body = soap(&c.patient, "PROGRESS");
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }

        let response = app
            .json_as(&c.author, Method::POST, "/api/notes", &body)
            .await;

        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{field}: {}",
            text(&response)
        );
        assert_eq!(response.error_code(), "VALIDATION_ERROR");
        assert!(
            response.json()["details"].get(field).is_some(),
            "{field}: {}",
            text(&response)
        );
    }
    let mut unknown = soap(&c.patient, "PROGRESS");
    unknown["color"] = json!("blue");
    let response = app
        .json_as(&c.author, Method::POST, "/api/notes", &unknown)
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(note_count(&app).await, 0);
}

#[tokio::test]
async fn a_section_of_64_kib_is_refused_and_nothing_is_written() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let mut body = soap(&c.patient, "PROGRESS");
    body["sections"]["plan"] = json!("x".repeat(64 * 1024 + 1));

    let response = app
        .json_as(&c.author, Method::POST, "/api/notes", &body)
        .await;

    // The request cap (64 KiB) answers first; the per-section limit is the same size.
    assert!(response.status.is_client_error(), "{}", response.status);
    assert!(!response.error_code().is_empty());
    assert_eq!(note_count(&app).await, 0);
}

#[tokio::test]
async fn a_clinician_off_the_care_team_cannot_write_about_the_patient() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;

    let response = app
        .json_as(
            &c.outsider,
            Method::POST,
            "/api/notes",
            &soap(&c.patient, "PROGRESS"),
        )
        .await;

    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert!(app.audited(c.admin.organization_id, "ACCESS_DENIED").await);
    assert_eq!(note_count(&app).await, 0);
}

#[tokio::test]
async fn billing_scheduler_and_compliance_cannot_write_notes() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    for user in [&c.billing, &c.scheduler, &c.compliance] {
        let response = app
            .json_as(
                user,
                Method::POST,
                "/api/notes",
                &soap(&c.patient, "PROGRESS"),
            )
            .await;

        assert_eq!(response.status, StatusCode::FORBIDDEN, "{:?}", user.role);
    }
    assert_eq!(note_count(&app).await, 0);
}

#[tokio::test]
async fn another_practices_patient_is_a_404_audited_as_cross_tenant() {
    let app = TestApp::new().await;
    let a = note_clinic(&app, "Practice A").await;
    let b = note_clinic(&app, "Practice B").await;

    let response = app
        .json_as(
            &b.author,
            Method::POST,
            "/api/notes",
            &soap(&a.patient, "PROGRESS"),
        )
        .await;

    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
    assert_eq!(note_count(&app).await, 0);
}

#[tokio::test]
async fn a_linked_appointment_must_be_the_patients_and_the_practices() {
    let app = TestApp::new().await;
    let a = note_clinic(&app, "Practice A").await;
    let b = note_clinic(&app, "Practice B").await;
    let second = crate::fixtures::units::patient(&app, &a.admin, "MRN-NOTES-2").await;
    let others = booked(
        &app,
        &a.admin,
        &second,
        &a.author,
        "2027-03-15T13:00:00Z",
        json!({ "overrideAvailability": true }),
    )
    .await;
    let foreign = booked(
        &app,
        &b.admin,
        &b.patient,
        &b.author,
        "2027-03-15T13:00:00Z",
        json!({ "overrideAvailability": true }),
    )
    .await;
    let with = |appointment: &serde_json::Value| {
        let mut body = soap(&a.patient, "PROGRESS");
        body["appointmentId"] = appointment["id"].clone();
        body
    };

    let wrong_patient = app
        .json_as(&a.author, Method::POST, "/api/notes", &with(&others))
        .await;
    let other_practice = app
        .json_as(&a.author, Method::POST, "/api/notes", &with(&foreign))
        .await;

    assert_eq!(wrong_patient.status, StatusCode::BAD_REQUEST);
    assert!(
        wrong_patient.json()["details"]
            .get("appointmentId")
            .is_some()
    );
    assert_eq!(other_practice.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(a.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
    assert_eq!(note_count(&app).await, 0);
}
