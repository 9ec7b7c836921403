//! `GET /api/waitlist`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use super::{added, owner_exec, waitlist_clinic};
use crate::fixtures::units::{audited, patient};

#[tokio::test]
async fn the_list_is_ranked_urgent_first_then_longest_waiting_filtered_paged_and_audited() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let second = patient(&app, &c.admin, "MRN-TWO").await;
    let third = patient(&app, &c.admin, "MRN-THREE").await;
    let oldest = added(&app, &c.admin, &c.patient, json!({})).await;
    let urgent = added(&app, &c.admin, &second, json!({ "priority": "URGENT" })).await;
    let newest = added(&app, &c.admin, &third, json!({ "serviceCode": "97155" })).await;
    owner_exec(
        &app,
        "UPDATE waitlist_entries SET waiting_since = now() - interval '10 days' WHERE id = $1::uuid",
        oldest["id"].as_str().expect("id"),
    )
    .await;

    let all = app.get_as(&c.scheduler, "/api/waitlist").await.json();
    let page = app
        .get_as(&c.scheduler, "/api/waitlist?limit=1&page=2")
        .await
        .json();
    let routine = app
        .get_as(
            &c.scheduler,
            "/api/waitlist?priority=ROUTINE&serviceCode=97153",
        )
        .await
        .json();
    let bad = app.get_as(&c.scheduler, "/api/waitlist?status=LATE").await;

    let order: Vec<&str> = all["waitlistEntries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        order,
        vec![
            urgent["id"].as_str().expect("id"),
            oldest["id"].as_str().expect("id"),
            newest["id"].as_str().expect("id"),
        ]
    );
    assert_eq!(
        all["pagination"],
        json!({ "page": 1, "limit": 20, "total": 3, "totalPages": 1 })
    );
    assert_eq!(page["waitlistEntries"][0]["id"], oldest["id"]);
    assert_eq!(routine["pagination"]["total"], 1);
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["details"]["status"].is_string());
    // 3 patients, then 1, then 1.
    assert_eq!(
        audited(&app, c.admin.organization_id, "WAITLIST_LIST")
            .await
            .len(),
        5
    );
}

#[tokio::test]
async fn a_clinician_lists_care_team_patients_billing_nobody_and_another_practice_nothing() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let stranger = patient(&app, &c.admin, "MRN-NOT-MINE").await;
    added(&app, &c.admin, &c.patient, json!({})).await;
    added(&app, &c.admin, &stranger, json!({})).await;
    let billing = app.user_in(c.admin.organization_id, Role::Billing).await;
    let other = app.org_with("Practice B", Role::Admin).await;

    let mine = app.get_as(&c.clinician, "/api/waitlist").await.json();
    let by_billing = app.get_as(&billing, "/api/waitlist").await;
    let theirs = app.get_as(&other, "/api/waitlist").await.json();

    assert_eq!(mine["pagination"]["total"], 1);
    assert_eq!(mine["waitlistEntries"][0]["patientId"], c.patient.as_str());
    assert_eq!(by_billing.status, StatusCode::FORBIDDEN);
    assert_eq!(theirs["pagination"]["total"], 0);
}

#[tokio::test]
async fn an_entry_past_its_expiry_lists_as_expired() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;
    owner_exec(
        &app,
        "UPDATE waitlist_entries SET expires_at = now() - interval '1 minute' WHERE id = $1::uuid",
        entry["id"].as_str().expect("id"),
    )
    .await;

    let active = app
        .get_as(&c.admin, "/api/waitlist?status=ACTIVE")
        .await
        .json();
    let expired = app
        .get_as(&c.admin, "/api/waitlist?status=EXPIRED")
        .await
        .json();

    assert_eq!(active["pagination"]["total"], 0);
    assert_eq!(expired["waitlistEntries"][0]["status"], "EXPIRED");
}
