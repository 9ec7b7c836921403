//! A charge never disagrees with the unit ledger: after a random workload of reservations,
//! completions (by units and minutes, under and over the reservation), cancellations and
//! corrections of completed sessions' units, every live charge's units are its session's net
//! units in the ledger (its CONSUME rows and corrections).

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
    // Corrections of completed sessions, up and down (to 0 too), some refused by the bounds.
    let completed_sessions: Vec<(String, Option<i64>)> = {
        let list = app
            .get_as(
                &k.c.billing,
                &format!(
                    "/api/sessions?authorizationId={}&status=COMPLETED&limit=100",
                    k.auth
                ),
            )
            .await;
        assert_eq!(list.status, StatusCode::OK);
        list.json()["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().expect("id").to_owned(),
                    s["actualUnits"].as_i64(),
                )
            })
            .collect()
    };
    let mut corrected = 0;
    for (session, _) in &completed_sessions {
        for _ in 0..rng.random_range(0..=2) {
            let adjustment = match rng.random_range(-3_i64..=3) {
                0 => 1,
                n => n,
            };
            let response = app
                .json_as(
                    &k.c.billing,
                    Method::POST,
                    &format!("/api/authorizations/{}/adjust", k.auth),
                    &json!({ "adjustment": adjustment, "reason": "recount", "sessionId": session }),
                )
                .await;
            match response.status {
                StatusCode::OK => corrected += 1,
                StatusCode::UNPROCESSABLE_ENTITY => {
                    assert_eq!(response.error_code(), "INVALID_ADJUSTMENT");
                }
                other => panic!("{other}: {}", String::from_utf8_lossy(&response.body)),
            }
        }
    }
    let owner = app.db().owner_pool().await;

    let rows: Vec<(i32, i64, i32)> = sqlx::query_as(
        "SELECT c.units, (SELECT sum(l.units) FROM unit_ledger l \
                          WHERE l.organization_id = c.organization_id AND l.session_id = c.session_id), \
                s.actual_units \
         FROM charges c JOIN therapy_sessions s ON s.organization_id = c.organization_id AND s.id = c.session_id \
         WHERE c.status <> 'VOID'",
    )
    .fetch_all(&owner)
    .await
    .expect("charges");
    let billable: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM therapy_sessions s WHERE s.status = 'COMPLETED' \
           AND (SELECT sum(l.units) FROM unit_ledger l \
                WHERE l.organization_id = s.organization_id AND l.session_id = s.id) > 0 \
           AND NOT EXISTS (SELECT 1 FROM charges c WHERE c.organization_id = s.organization_id \
                           AND c.session_id = s.id AND c.status = 'VOID')",
    )
    .fetch_one(&owner)
    .await
    .expect("count");
    owner.close().await;

    assert!(completed > 0);
    assert!(corrected > 0 || completed_sessions.is_empty());
    assert_eq!(
        i64::try_from(rows.len()).expect("len"),
        billable,
        "one live charge per billable session (a voided one is not billed again)"
    );
    for (units, ledger, actual) in rows {
        assert_eq!(i64::from(units), ledger, "completed with {actual}");
    }
    assert_ledger_balanced(&app, k.c.admin.organization_id).await;
}
