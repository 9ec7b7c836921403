//! `haven_appointments_total{outcome}` (SPEC §9) moves with bookings.

use serde_json::json;

use crate::fixtures::metrics::{scrape, value};
use crate::fixtures::scheduling::{book, booked, clinic};

#[tokio::test]
async fn bookings_conflicts_and_refusals_are_counted() {
    let app = haven_testkit::TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let (_, before) = scrape(&app).await;

    booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        "2027-03-15T13:00:00Z",
        json!({}),
    )
    .await;
    book(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        "2027-03-15T13:00:00Z",
        json!({}),
    )
    .await;
    book(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        "2027-03-20T13:00:00Z",
        json!({}),
    )
    .await;

    let (_, after) = scrape(&app).await;
    // The recorder is process-wide and tests run in parallel: at least this test's own moves.
    for outcome in ["booked", "conflict", "outside_availability"] {
        let name = "haven_appointments_total";
        let moved = value(&after, name, &[("outcome", outcome)])
            - value(&before, name, &[("outcome", outcome)]);
        assert!(moved >= 1.0, "{outcome}: {moved}");
    }
}
