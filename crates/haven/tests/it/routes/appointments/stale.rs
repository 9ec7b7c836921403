//! The stale-reservation cleanup of §5 also cancels the appointments of the sessions it
//! releases.

use chrono::{Duration, Utc};
use serde_json::json;

use crate::fixtures::scheduling::{booked, clinic};
use crate::fixtures::units::{assert_ledger_balanced, authorization, post};

#[tokio::test]
async fn a_released_stale_session_cancels_its_appointment() {
    let app = haven_testkit::TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 40).await;
    // Five hours ago, on the booking grid (whole five minutes).
    let ago = Utc::now() - Duration::hours(5);
    let start = (ago
        - Duration::seconds(ago.timestamp().rem_euclid(300))
        - Duration::nanoseconds(i64::from(ago.timestamp_subsec_nanos())))
    .to_rfc3339();
    let appointment = booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        &start,
        json!({ "authorizationId": auth, "overrideAvailability": true }),
    )
    .await;

    let cleaned = post(
        &app,
        &c.admin,
        "/api/admin/maintenance/cleanup-stale",
        json!({}),
    )
    .await;

    assert_eq!(cleaned.json()["sessionsCleaned"], 1, "{:?}", cleaned.json());
    let id = appointment["id"].as_str().expect("id");
    let read = app
        .get_as(&c.admin, &format!("/api/appointments/{id}"))
        .await
        .json();
    assert_eq!(read["appointment"]["status"], "CANCELLED");
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}
