//! A charge never disagrees with the unit ledger: after a random workload of reservations,
//! completions (by units and minutes, under and over the reservation) and cancellations, every
//! charge's units are its session's net units in the ledger.

use axum::http::{Method, StatusCode};
use haven_testkit::TestApp;
use rand::RngExt;
use serde_json::json;

use crate::fixtures::charges::charge_clinic;
use crate::fixtures::units::{assert_ledger_balanced, at};

#[tokio::test]
async fn after_a_random_workload_every_charge_equals_its_sessions_ledger_units() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let mut rng = rand::rng();
    let mut completed = 0;
    for i in 0..40 {
        let reserved: i64 = rng.random_range(1..=4);
        let made = app
            .json_as(
                &k.c.admin,
                Method::POST,
                "/api/sessions",
                &json!({
                    "authorizationId": k.auth, "clinicianId": k.c.author.id,
                    "startTime": at(-600 + i * 5), "expectedUnits": reserved,
                }),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED);
        let id = made.json()["session"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let body = match rng.random_range(0..4) {
            0 => None,
            1 => Some(json!({ "actualMinutes": rng.random_range(0..=90) })),
            _ => Some(json!({ "actualUnits": rng.random_range(0..=6) })),
        };
        let path = match body {
            Some(_) => format!("/api/sessions/{id}/complete"),
            None => format!("/api/sessions/{id}/cancel"),
        };
        let body = body.unwrap_or_else(|| json!({ "reason": "Family cancelled" }));
        let response = app.json_as(&k.c.billing, Method::POST, &path, &body).await;
        assert_eq!(response.status, StatusCode::OK, "{body}");
        if path.ends_with("complete") {
            completed += 1;
        }
    }
    let owner = app.db().owner_pool().await;

    let rows: Vec<(i32, i64, i32)> = sqlx::query_as(
        "SELECT c.units, (SELECT sum(l.units) FROM unit_ledger l \
                          WHERE l.organization_id = c.organization_id AND l.session_id = c.session_id), \
                s.actual_units \
         FROM charges c JOIN therapy_sessions s ON s.organization_id = c.organization_id AND s.id = c.session_id",
    )
    .fetch_all(&owner)
    .await
    .expect("charges");
    let billable: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM therapy_sessions WHERE status = 'COMPLETED' AND actual_units > 0",
    )
    .fetch_one(&owner)
    .await
    .expect("count");
    owner.close().await;

    assert!(completed > 0);
    assert_eq!(
        i64::try_from(rows.len()).expect("len"),
        billable,
        "one charge per billable session"
    );
    for (units, ledger, actual) in rows {
        assert_eq!(i64::from(units), ledger);
        assert_eq!(units, actual);
    }
    assert_ledger_balanced(&app, k.c.admin.organization_id).await;
}
