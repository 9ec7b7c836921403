//! Racing offers: many schedulers offering one slot, or one entry, at once end with exactly
//! one pending offer and one hold; the rest get clean 409s (never a 500).

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use super::{MONDAY_NINE, added, offer, owner_scalar, waitlist_clinic};
use crate::fixtures::units::patient;

#[tokio::test]
async fn sixteen_offers_of_one_slot_to_sixteen_entries_leave_one_offer() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let mut entries = Vec::new();
    for i in 0..16 {
        let who = patient(&app, &c.admin, &format!("MRN-RACE-{i}")).await;
        entries.push(added(&app, &c.admin, &who, json!({})).await);
    }
    let scheduler = app.user_in(c.admin.organization_id, Role::Scheduler).await;

    let responses = futures_util::future::join_all(entries.iter().map(|entry| {
        offer(
            &app,
            &scheduler,
            entry,
            &c.clinician,
            MONDAY_NINE,
            json!({}),
        )
    }))
    .await;

    let created = responses
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1);
    assert!(
        responses
            .iter()
            .all(|r| r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT),
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let org = c.admin.organization_id.to_string();
    let pending: i64 = owner_scalar(
        &app,
        "SELECT count(*) FROM waitlist_offers WHERE organization_id = $1::uuid AND status = 'PENDING'",
        &org,
    )
    .await;
    let held: i64 = owner_scalar(
        &app,
        "SELECT count(*) FROM calendar_entries WHERE organization_id = $1::uuid AND status = 'HELD'",
        &org,
    )
    .await;
    assert_eq!((pending, held), (1, 1));
}

#[tokio::test]
async fn sixteen_offers_of_different_slots_to_one_entry_leave_one_offer() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;
    let mut clinicians = Vec::new();
    for _ in 0..4 {
        let clinician = app.user_in(c.admin.organization_id, Role::Clinician).await;
        crate::fixtures::scheduling::set_availability(
            &app,
            &c.admin,
            &clinician.id.to_string(),
            &crate::fixtures::scheduling::week_body(0),
        )
        .await;
        clinicians.push(clinician);
    }
    let starts = [
        "2027-03-15T13:00:00Z",
        "2027-03-15T15:00:00Z",
        "2027-03-16T13:00:00Z",
        "2027-03-16T15:00:00Z",
    ];

    let responses = futures_util::future::join_all(clinicians.iter().flat_map(|clinician| {
        starts
            .iter()
            .map(|start| offer(&app, &c.scheduler, &entry, clinician, start, json!({})))
    }))
    .await;

    let created = responses
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1);
    assert!(
        responses
            .iter()
            .all(|r| r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT)
    );
    let held: i64 = owner_scalar(
        &app,
        "SELECT count(*) FROM calendar_entries WHERE organization_id = $1::uuid AND status = 'HELD'",
        &c.admin.organization_id.to_string(),
    )
    .await;
    assert_eq!(held, 1, "the losers' holds rolled back with their offers");
}
