//! Racing series: sixteen series of one clinician, over overlapping weeks, some all-or-nothing
//! and some skipping, half drawing on one authorization. The database lets no two active
//! appointments overlap, every `reject` series is booked whole or not at all, every loser gets
//! a clean 409, and the ledger balances.

use std::sync::Arc;

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use super::{count, create, series_body};
use crate::fixtures::scheduling::{set_availability, text, week_body};
use crate::fixtures::units::{assert_ledger_balanced, authorization, patient};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_series_never_overlap_and_reject_is_all_or_nothing() {
    let app = Arc::new(TestApp::new().await);
    let admin = Arc::new(app.org_with("Practice A", Role::Admin).await);
    let clinician = Arc::new(app.user_in(admin.organization_id, Role::Clinician).await);
    set_availability(&app, &admin, &clinician.id.to_string(), &week_body(0)).await;
    let mut patients = Vec::new();
    for i in 0..8 {
        patients.push(patient(&app, &admin, &format!("MRN-SERIES-RACE-{i}")).await);
    }
    // Enough units for about two whole series of eight occurrences (4 units each).
    let shared = authorization(&app, &admin, &patients[0], 70).await;
    let patients = Arc::new(patients);
    let shared = Arc::new(shared);

    let tasks: Vec<_> = (0..16usize)
        .map(|i| {
            let (app, admin, clinician) = (app.clone(), admin.clone(), clinician.clone());
            let (patients, shared) = (patients.clone(), shared.clone());
            tokio::spawn(async move {
                let p = i % 8;
                // Mondays from 2027-01-04, 2027-01-11 or 2027-01-18: each overlaps the others.
                let start = ["2027-01-04", "2027-01-11", "2027-01-18"][i % 3];
                let mut extra = json!({
                    "startDate": start,
                    "recurrence": { "frequency": "WEEKLY", "interval": 1, "byDay": ["MO"], "count": 8 },
                    "onConflict": if i % 2 == 0 { "reject" } else { "skip" },
                });
                if p == 0 {
                    extra["authorizationId"] = json!(*shared);
                }
                let body = series_body(&patients[p], &clinician, extra);
                let response = create(&app, &admin, &body).await;
                (i, response.status, response.json(), text(&response))
            })
        })
        .collect();

    let mut booked_by_responses = 0;
    let mut whole = Vec::new();
    for task in tasks {
        let (i, status, body, raw) = task.await.expect("task");
        match status {
            StatusCode::CREATED => {
                let booked = body["appointments"].as_array().map_or(0, Vec::len);
                let skipped = body["skipped"].as_array().map_or(0, Vec::len);
                assert_eq!(booked + skipped, 8, "{raw}");
                if i % 2 == 0 {
                    assert_eq!(booked, 8, "reject books the whole series: {raw}");
                    whole.push(body["series"]["id"].as_str().expect("series id").to_owned());
                }
                booked_by_responses += booked;
            }
            StatusCode::CONFLICT => {
                let code = body["error"].as_str().unwrap_or_default();
                assert!(
                    code == "SCHEDULE_CONFLICT" || code == "INSUFFICIENT_UNITS",
                    "{raw}"
                );
            }
            other => panic!("series {i} answered {other}: {raw}"),
        }
    }

    let owner = app.db().owner_pool().await;
    let overlaps: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM calendar_entries a JOIN calendar_entries b \
           ON a.organization_id = b.organization_id AND a.id < b.id \
          AND ((a.clinician_id = b.clinician_id AND a.busy && b.busy) \
               OR (a.patient_id = b.patient_id AND a.during && b.during)) \
         WHERE a.status IN ('HELD', 'BOOKED', 'CHECKED_IN') \
           AND b.status IN ('HELD', 'BOOKED', 'CHECKED_IN')",
    )
    .fetch_one(&owner)
    .await
    .expect("self-join");
    // Each series booked under `reject` holds all eight of its occurrences.
    let partial_rejects: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM unnest($1::uuid[]) s(id) \
         WHERE (SELECT count(*) FROM calendar_entries e \
                WHERE e.series_id = s.id AND e.status = 'BOOKED') <> 8",
    )
    .bind(&whole)
    .fetch_one(&owner)
    .await
    .expect("series");
    owner.close().await;
    assert_eq!(overlaps, 0);
    assert_eq!(partial_rejects, 0);
    // Mondays 2027-01-04 to 2027-03-08 hold ten free 10:00 slots: all of them end up taken.
    assert_eq!(booked_by_responses, 10);
    assert_eq!(count(&app, "calendar_entries").await, 10);
    assert_ledger_balanced(&app, admin.organization_id).await;
}
