//! `GET /api/waitlist/{id}/matches` and `GET /api/waitlist/matches-for-slot`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::{TestApp, TestUser};
use serde_json::{Value, json};

use super::{MONDAY_NINE, MONDAY_THREE, added, offered, owner_exec, waitlist_clinic};
use crate::fixtures::scheduling::{booked, text};
use crate::fixtures::units::{audited, patient};

const WEEK: &str = "from=2027-03-15T00:00:00Z&to=2027-03-20T00:00:00Z";

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn for_slot(app: &TestApp, user: &TestUser, clinician: &TestUser, start: &str) -> Value {
    let response = app
        .get_as(
            user,
            &format!(
                "/api/waitlist/matches-for-slot?clinicianId={}&start={start}&durationMinutes=60&serviceCode=97153",
                clinician.id
            ),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", text(&response));
    response.json()
}

#[tokio::test]
async fn an_entry_s_matches_meet_its_days_windows_and_dates_in_the_practice_zone() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let entry = added(
        &app,
        &c.admin,
        &c.patient,
        json!({
            "clinicianIds": [c.clinician.id],
            "preferredDays": ["MO", "WE"],
            "preferredWindows": [{ "start": "15:00", "end": "17:00" }],
            "latestDate": "2027-03-17",
        }),
    )
    .await;
    // The patient is busy Monday 15:00–16:00 New York time.
    let other_clinician = app.user_in(c.admin.organization_id, Role::Clinician).await;
    crate::fixtures::scheduling::on_care_team(&app, &c.admin, &c.patient, &other_clinician).await;
    crate::fixtures::scheduling::set_availability(
        &app,
        &c.admin,
        &other_clinician.id.to_string(),
        &crate::fixtures::scheduling::week_body(0),
    )
    .await;
    booked(
        &app,
        &c.admin,
        &c.patient,
        &other_clinician,
        MONDAY_THREE,
        json!({}),
    )
    .await;
    let id = entry["id"].as_str().expect("id");

    let response = app
        .get_as(
            &c.scheduler,
            &format!("/api/waitlist/{id}/matches?{WEEK}&granularityMinutes=60"),
        )
        .await;

    assert_eq!(response.status, StatusCode::OK, "{}", text(&response));
    let starts: Vec<String> = response.json()["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|s| s["start"].as_str().expect("start").to_owned())
        .collect();
    // Monday 16:00 (15:00 is the patient's other appointment), Wednesday 15:00 and 16:00;
    // never Tuesday, never Thursday (after latestDate), never outside 15:00–17:00.
    assert_eq!(
        starts,
        vec![
            "2027-03-15T20:00:00Z",
            "2027-03-17T19:00:00Z",
            "2027-03-17T20:00:00Z"
        ]
    );
    assert_eq!(
        audited(&app, c.admin.organization_id, "WAITLIST_LIST")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_freed_slot_ranks_urgent_first_then_longest_waiting_and_skips_what_cannot_take_it() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let mut patients = vec![c.patient.clone()];
    for i in 0..5 {
        patients.push(patient(&app, &c.admin, &format!("MRN-RANK-{i}")).await);
    }
    let oldest = added(&app, &c.admin, &patients[0], json!({})).await;
    let newer = added(&app, &c.admin, &patients[1], json!({})).await;
    let urgent = added(
        &app,
        &c.admin,
        &patients[2],
        json!({ "priority": "URGENT" }),
    )
    .await;
    // Wrong window, wrong day, and one with a pending offer elsewhere: never ranked.
    added(
        &app,
        &c.admin,
        &patients[3],
        json!({ "preferredWindows": [{ "start": "15:00", "end": "18:00" }] }),
    )
    .await;
    added(
        &app,
        &c.admin,
        &patients[4],
        json!({ "preferredDays": ["TU"] }),
    )
    .await;
    let busy = added(&app, &c.admin, &patients[5], json!({})).await;
    offered(&app, &c.admin, &busy, &c.clinician, "2027-03-16T13:00:00Z").await;
    owner_exec(
        &app,
        "UPDATE waitlist_entries SET waiting_since = now() - interval '30 days' WHERE id = $1::uuid",
        oldest["id"].as_str().expect("id"),
    )
    .await;

    let ranked = for_slot(&app, &c.scheduler, &c.clinician, MONDAY_NINE).await;

    assert_eq!(
        ids(&ranked["waitlistEntries"]),
        vec![
            urgent["id"].as_str().expect("id").to_owned(),
            oldest["id"].as_str().expect("id").to_owned(),
            newer["id"].as_str().expect("id").to_owned(),
        ]
    );
    assert_eq!(
        audited(&app, c.admin.organization_id, "WAITLIST_LIST")
            .await
            .len(),
        3,
        "one per patient shown"
    );
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_field() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;
    let id = entry["id"].as_str().expect("id");

    let window = app
        .get_as(
            &c.admin,
            &format!(
                "/api/waitlist/{id}/matches?from=2027-03-15T00:00:00Z&to=2027-05-15T00:00:00Z"
            ),
        )
        .await;
    let duration = app
        .get_as(
            &c.admin,
            &format!("/api/waitlist/{id}/matches?{WEEK}&durationMinutes=5"),
        )
        .await;
    let slot = app
        .get_as(
            &c.admin,
            &format!(
                "/api/waitlist/matches-for-slot?clinicianId={}&start=soon&durationMinutes=60&serviceCode=x",
                c.clinician.id
            ),
        )
        .await;

    assert_eq!(window.status, StatusCode::BAD_REQUEST);
    assert!(window.json()["details"]["to"].is_string());
    assert_eq!(duration.status, StatusCode::BAD_REQUEST);
    assert!(duration.json()["details"]["durationMinutes"].is_string());
    assert_eq!(slot.status, StatusCode::BAD_REQUEST);
    assert!(slot.json()["details"]["start"].is_string());
    assert!(slot.json()["details"]["serviceCode"].is_string());
}

#[tokio::test]
async fn roles_and_tenants_for_matching() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let stranger = patient(&app, &c.admin, "MRN-NOT-MINE").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;
    added(&app, &c.admin, &stranger, json!({})).await;
    let billing = app.user_in(c.admin.organization_id, Role::Billing).await;
    let other = app.org_with("Practice B", Role::Scheduler).await;
    let id = entry["id"].as_str().expect("id");

    let by_billing = app
        .get_as(&billing, &format!("/api/waitlist/{id}/matches?{WEEK}"))
        .await;
    let by_other = app
        .get_as(&other, &format!("/api/waitlist/{id}/matches?{WEEK}"))
        .await;
    let other_ranking = for_slot(&app, &other, &c.clinician, MONDAY_NINE).await;
    let clinician_ranking = for_slot(&app, &c.clinician, &c.clinician, MONDAY_NINE).await;

    assert_eq!(by_billing.status, StatusCode::FORBIDDEN);
    assert_eq!(by_other.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(other.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
    assert_eq!(other_ranking["waitlistEntries"], json!([]));
    assert_eq!(
        ids(&clinician_ranking["waitlistEntries"]),
        vec![id.to_owned()],
        "care-team patients only"
    );
}
