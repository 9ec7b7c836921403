//! `POST /api/waitlist`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use super::{add, added, entry_body, owner_scalar, waitlist_clinic};
use crate::fixtures::scheduling::text;
use crate::fixtures::units::{audited, authorization, patient};

#[tokio::test]
async fn adding_a_patient_keeps_the_preferences_expires_in_90_days_and_is_audited() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let auth = authorization(&app, &c.admin, &c.patient, 40).await;

    let response = add(
        &app,
        &c.scheduler,
        &entry_body(
            &c.patient,
            json!({
                "clinicianIds": [c.clinician.id],
                "authorizationId": auth,
                "preferredDays": ["MO", "we"],
                "preferredWindows": [{ "start": "15:00", "end": "18:00" }],
                "earliestDate": "2027-03-01",
                "latestDate": "2027-06-30",
                "priority": "URGENT",
                "notes": "Prefers afternoons after school",
            }),
        ),
    )
    .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    let entry = &response.json()["waitlistEntry"];
    assert_eq!(entry["status"], "ACTIVE");
    assert_eq!(entry["priority"], "URGENT");
    assert_eq!(entry["preferredDays"], json!(["MO", "WE"]));
    assert_eq!(
        entry["preferredWindows"],
        json!([{ "start": "15:00", "end": "18:00" }])
    );
    assert_eq!(entry["notes"], "Prefers afternoons after school");
    let id = entry["id"].as_str().expect("id");
    let days: f64 = owner_scalar(
        &app,
        "SELECT (extract(epoch FROM expires_at - created_at) / 86400)::float8 FROM waitlist_entries WHERE id = $1::uuid",
        id,
    )
    .await;
    assert!((days - 90.0).abs() < 0.01, "{days}");
    let stored: Vec<u8> = owner_scalar(
        &app,
        "SELECT notes FROM waitlist_entries WHERE id = $1::uuid",
        id,
    )
    .await;
    assert!(
        !String::from_utf8_lossy(&stored).contains("afternoons"),
        "notes are encrypted at rest"
    );
    let events = audited(&app, c.admin.organization_id, "WAITLIST_ADD").await;
    assert_eq!(events.len(), 1);
    assert!(
        !events[0].to_string().contains("afternoons"),
        "no PHI in the trail"
    );
}

#[tokio::test]
async fn one_active_entry_per_patient_and_service_is_a_409_conflict() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    added(&app, &c.admin, &c.patient, json!({})).await;

    let again = add(&app, &c.scheduler, &entry_body(&c.patient, json!({}))).await;
    let other_service = add(
        &app,
        &c.scheduler,
        &entry_body(&c.patient, json!({ "serviceCode": "97155" })),
    )
    .await;

    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "CONFLICT");
    assert_eq!(other_service.status, StatusCode::CREATED);
}

#[tokio::test]
async fn an_expired_entry_no_longer_blocks_a_new_one() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let old = added(&app, &c.admin, &c.patient, json!({})).await;
    super::owner_exec(
        &app,
        "UPDATE waitlist_entries SET expires_at = now() - interval '1 day' WHERE id = $1::uuid",
        old["id"].as_str().expect("id"),
    )
    .await;

    let again = add(&app, &c.scheduler, &entry_body(&c.patient, json!({}))).await;

    assert_eq!(again.status, StatusCode::CREATED, "{}", text(&again));
    let status: String = owner_scalar(
        &app,
        "SELECT status FROM waitlist_entries WHERE id = $1::uuid",
        old["id"].as_str().expect("id"),
    )
    .await;
    assert_eq!(status, "EXPIRED");
}

#[tokio::test]
async fn bad_preferences_are_400_naming_each_field_and_nothing_is_written() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;

    let response = add(
        &app,
        &c.admin,
        &entry_body(
            &c.patient,
            json!({
                "serviceCode": "no",
                "preferredDays": ["MO", "XX"],
                "preferredWindows": [{ "start": "18:00", "end": "15:00" }, { "start": "9am", "end": "10:00" }],
                "earliestDate": "2027-06-30",
                "latestDate": "2027-03-01",
                "priority": "SOON",
                "notes": "",
            }),
        ),
    )
    .await;
    let unknown_clinician = add(
        &app,
        &c.admin,
        &entry_body(&c.patient, json!({ "clinicianIds": [c.scheduler.id] })),
    )
    .await;
    let unknown_field = add(
        &app,
        &c.admin,
        &entry_body(&c.patient, json!({ "colour": "blue" })),
    )
    .await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let details = &response.json()["details"];
    for field in [
        "serviceCode",
        "preferredDays",
        "preferredWindows[0].end",
        "preferredWindows[1]",
        "latestDate",
        "priority",
        "notes",
    ] {
        assert!(details.get(field).is_some(), "{field} in {details}");
    }
    assert_eq!(unknown_clinician.status, StatusCode::BAD_REQUEST);
    assert!(unknown_clinician.json()["details"]["clinicianIds"].is_string());
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);
    let rows: i64 = owner_scalar(
        &app,
        "SELECT count(*) FROM waitlist_entries WHERE patient_id = $1::uuid",
        &c.patient,
    )
    .await;
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn billing_and_compliance_may_not_and_a_clinician_only_for_care_team_patients() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let billing = app.user_in(c.admin.organization_id, Role::Billing).await;
    let compliance = app.user_in(c.admin.organization_id, Role::Compliance).await;
    let stranger = patient(&app, &c.admin, "MRN-NOT-MINE").await;

    let by_billing = add(&app, &billing, &entry_body(&c.patient, json!({}))).await;
    let by_compliance = add(&app, &compliance, &entry_body(&c.patient, json!({}))).await;
    let not_on_team = add(&app, &c.clinician, &entry_body(&stranger, json!({}))).await;
    let on_team = add(&app, &c.clinician, &entry_body(&c.patient, json!({}))).await;

    assert_eq!(by_billing.status, StatusCode::FORBIDDEN);
    assert_eq!(by_compliance.status, StatusCode::FORBIDDEN);
    assert_eq!(not_on_team.status, StatusCode::NOT_FOUND);
    assert_eq!(on_team.status, StatusCode::CREATED, "{}", text(&on_team));
    assert!(app.audited(c.admin.organization_id, "ACCESS_DENIED").await);
}

#[tokio::test]
async fn another_practice_s_patient_or_authorization_is_404_and_audited() {
    let app = TestApp::new().await;
    let a = waitlist_clinic(&app, "Practice A").await;
    let b = waitlist_clinic(&app, "Practice B").await;
    let auth_a = authorization(&app, &a.admin, &a.patient, 40).await;

    let patient_of_a = add(&app, &b.scheduler, &entry_body(&a.patient, json!({}))).await;
    let authorization_of_a = add(
        &app,
        &b.scheduler,
        &entry_body(&b.patient, json!({ "authorizationId": auth_a })),
    )
    .await;

    assert_eq!(patient_of_a.status, StatusCode::NOT_FOUND);
    assert_eq!(authorization_of_a.status, StatusCode::NOT_FOUND);
    let attempts = audited(&app, b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT").await;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    let rows: i64 = owner_scalar(
        &app,
        "SELECT count(*) FROM waitlist_entries WHERE organization_id = $1::uuid",
        &b.admin.organization_id.to_string(),
    )
    .await;
    assert_eq!(rows, 0);
}
