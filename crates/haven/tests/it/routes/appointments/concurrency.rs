//! Concurrent bookings: the database lets exactly one of each overlapping set win; every
//! loser gets a clean 409, never a 500 or a deadlock.

use std::sync::Arc;

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::scheduling::{book, on_care_team, set_availability, text, week_body};
use crate::fixtures::units::{assert_ledger_balanced, authorization, patient};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_racing_bookings_never_overlap() {
    let app = Arc::new(TestApp::new().await);
    let admin = Arc::new(app.org_with("Practice A", Role::Admin).await);
    let mut clinicians = Vec::new();
    for _ in 0..5 {
        let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
        set_availability(&app, &admin, &clinician.id.to_string(), &week_body(10)).await;
        clinicians.push(clinician);
    }
    let mut patients = Vec::new();
    for i in 0..20 {
        let id = patient(&app, &admin, &format!("MRN-RACE-{i}")).await;
        on_care_team(&app, &admin, &id, &clinicians[i % 5]).await;
        patients.push(id);
    }
    // Half the patients book with units, so the ledger races too.
    let mut auths = Vec::new();
    for p in patients.iter().take(10) {
        auths.push(authorization(&app, &admin, p, 500).await);
    }
    let clinicians = Arc::new(clinicians);
    let patients = Arc::new(patients);
    let auths = Arc::new(auths);

    let tasks: Vec<_> = (0..64usize)
        .map(|i| {
            let (app, admin) = (app.clone(), admin.clone());
            let (clinicians, patients, auths) =
                (clinicians.clone(), patients.clone(), auths.clone());
            tokio::spawn(async move {
                let clinician = &clinicians[i % 5];
                let p = (i * 7) % 20;
                // Four overlapping starts, 20 minutes apart, on Monday 2027-03-15 (09:00 EDT on).
                let start = format!("2027-03-15T13:{:02}:00Z", (i % 4) * 15);
                let extra = if p < 10 {
                    json!({ "authorizationId": auths[p] })
                } else {
                    json!({})
                };
                let response = book(&app, &admin, &patients[p], clinician, &start, extra).await;
                (response.status, response.json(), text(&response))
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        let (status, body, raw) = task.await.expect("task");
        match status {
            StatusCode::CREATED => won += 1,
            StatusCode::CONFLICT => {
                assert_eq!(body["error"], "SCHEDULE_CONFLICT", "{raw}");
                let with = body["details"]["conflictWith"].as_str().unwrap_or_default();
                assert!(with == "clinician" || with == "patient", "{raw}");
            }
            other => panic!("a booking answered {other}: {raw}"),
        }
    }

    assert!(won >= 5, "each clinician books at least once ({won})");
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
    let booked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM calendar_entries WHERE kind = 'APPOINTMENT'")
            .fetch_one(&owner)
            .await
            .expect("count");
    owner.close().await;
    assert_eq!(overlaps, 0);
    assert_eq!(booked, won);
    assert_ledger_balanced(&app, admin.organization_id).await;
}
