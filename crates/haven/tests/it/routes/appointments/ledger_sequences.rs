//! Random sequences of book / reschedule / check-in / complete / cancel / no-show: the unit
//! ledger invariant holds after every step.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::fixtures::scheduling::{book, clinic, text};
use crate::fixtures::units::{assert_ledger_balanced, authorization, post};

/// A small deterministic generator (the sequences are reproducible from the seed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn the_ledger_balances_after_every_step_of_random_sequences() {
    let app = haven_testkit::TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 60).await;
    let org = c.admin.organization_id;
    for seed in 1..=3u64 {
        let mut rng = Lcg(seed);
        let mut live: Vec<Value> = Vec::new();
        let mut succeeded = 0;
        for step in 0..30 {
            let day = 15 + rng.next(5);
            let hour = 13 + rng.next(7);
            let start = format!("2027-03-{day:02}T{hour:02}:00:00Z");
            let pick = |rng: &mut Lcg, live: &Vec<Value>| {
                (!live.is_empty())
                    .then(|| usize::try_from(rng.next(live.len() as u64)).unwrap_or(0))
            };
            let response = match (rng.next(6), pick(&mut rng, &live)) {
                (0, _) | (_, None) => {
                    let minutes = 15 * (1 + rng.next(8));
                    book(
                        &app,
                        &c.admin,
                        &c.patient,
                        &c.clinician,
                        &start,
                        json!({ "authorizationId": auth, "durationMinutes": minutes }),
                    )
                    .await
                }
                (1, Some(i)) => {
                    let a = &live[i];
                    post(&app, &c.admin, &format!("/api/appointments/{}/reschedule", a["id"].as_str().unwrap_or_default()),
                         json!({ "start": start, "durationMinutes": 30, "expectedVersion": a["version"] })).await
                }
                (2, Some(i)) => {
                    post(
                        &app,
                        &c.admin,
                        &format!(
                            "/api/appointments/{}/check-in",
                            live[i]["id"].as_str().unwrap_or_default()
                        ),
                        json!({}),
                    )
                    .await
                }
                (3, Some(i)) => {
                    let session = live[i]["sessionId"].as_str().unwrap_or_default().to_owned();
                    post(
                        &app,
                        &c.admin,
                        &format!("/api/sessions/{session}/complete"),
                        json!({ "actualUnits": 1 + rng.next(6) }),
                    )
                    .await
                }
                (4, Some(i)) => {
                    post(
                        &app,
                        &c.admin,
                        &format!(
                            "/api/appointments/{}/cancel",
                            live[i]["id"].as_str().unwrap_or_default()
                        ),
                        json!({ "reason": "random" }),
                    )
                    .await
                }
                (_, Some(i)) => {
                    post(
                        &app,
                        &c.admin,
                        &format!(
                            "/api/appointments/{}/no-show",
                            live[i]["id"].as_str().unwrap_or_default()
                        ),
                        json!({}),
                    )
                    .await
                }
            };
            assert!(
                response.status.is_success() || response.status == StatusCode::CONFLICT,
                "seed {seed} step {step}: {} {}",
                response.status,
                text(&response)
            );
            succeeded += usize::from(response.status.is_success());
            if response.status.is_success()
                && let Some(appointment) = response.json().get("appointment").cloned()
            {
                live.retain(|a| a["id"] != appointment["id"]);
                live.push(appointment);
            }
            assert_ledger_balanced(&app, org).await;
        }
        assert!(
            succeeded >= 5,
            "seed {seed}: only {succeeded} steps changed anything"
        );
    }
}
