//! The ledger under concurrency: many clients racing on one authorization never over-allocate,
//! mixed streams of every operation keep the invariant, and random operation sequences
//! (proptest) keep it after every step.

use std::sync::Arc;

use axum::http::StatusCode;
use haven::ids::OrganizationId;
use haven_testkit::{TestApp, TestUser};
use proptest::prelude::*;
use serde_json::json;

use crate::fixtures::post;
use crate::fixtures::units::{
    assert_ledger_balanced, authorization, get_authorization, ledger, ledger_rows, practice,
    reserve,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_racing_one_unit_reservations_on_fifty_units_get_exactly_fifty() {
    let app = Arc::new(TestApp::new().await);
    let p = practice(&app, "Practice A").await;
    let auth = authorization(&app, &p.admin, &p.patient, 50).await;
    let admin = Arc::new(p.admin);

    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (app, admin, auth) = (app.clone(), admin.clone(), auth.clone());
            tokio::spawn(async move { reserve(&app, &admin, &auth, 1).await })
        })
        .collect();
    let mut created = 0;
    let mut refused = 0;
    for task in tasks {
        let response = task.await.expect("task");
        match response.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert!(
                    ["INSUFFICIENT_UNITS", "AUTHORIZATION_EXHAUSTED"]
                        .contains(&response.error_code().as_str())
                );
                refused += 1;
            }
            other => panic!("unexpected {other}: {:?}", response.body),
        }
    }

    assert_eq!((created, refused), (50, 150));
    let after = get_authorization(&app, &admin, &auth).await;
    assert_eq!(
        (after["usedUnits"].clone(), after["status"].clone()),
        (json!(50), json!("EXHAUSTED"))
    );
    assert_eq!(ledger_rows(&app, &auth).await.len(), 50);
    assert_ledger_balanced(&app, admin.organization_id).await;
}

/// A small deterministic generator, so a failing stream can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

async fn stream(app: Arc<TestApp>, user: Arc<TestUser>, auths: Arc<Vec<String>>, seed: u64) {
    let mut rng = Lcg(seed);
    let mut mine: Vec<String> = Vec::new();
    for _ in 0..30 {
        let auth = &auths[usize::try_from(rng.below(2)).expect("small")];
        let response = match rng.below(6) {
            0 | 1 => {
                let response = reserve(
                    &app,
                    &user,
                    auth,
                    i64::try_from(rng.below(3)).expect("small") + 1,
                )
                .await;
                if response.status == StatusCode::CREATED {
                    mine.push(
                        response.json()["session"]["id"]
                            .as_str()
                            .expect("id")
                            .to_owned(),
                    );
                }
                response
            }
            2 if !mine.is_empty() => {
                let id = &mine[usize::try_from(rng.below(mine.len() as u64)).expect("small")];
                let body = json!({ "actualUnits": rng.below(5) });
                post(&app, &user, &format!("/api/sessions/{id}/complete"), body).await
            }
            3 if !mine.is_empty() => {
                let id = &mine[usize::try_from(rng.below(mine.len() as u64)).expect("small")];
                post(
                    &app,
                    &user,
                    &format!("/api/sessions/{id}/cancel"),
                    json!({ "reason": "stream" }),
                )
                .await
            }
            4 if !mine.is_empty() => {
                let id = &mine[usize::try_from(rng.below(mine.len() as u64)).expect("small")];
                post(&app, &user, &format!("/api/sessions/{id}/start"), json!({})).await
            }
            _ => {
                let adjustment = i64::try_from(rng.below(7)).expect("small") - 3;
                let adjustment = if adjustment == 0 { 1 } else { adjustment };
                post(
                    &app,
                    &user,
                    &format!("/api/authorizations/{auth}/adjust"),
                    json!({ "adjustment": adjustment, "reason": "stream" }),
                )
                .await
            }
        };
        assert!(
            !response.status.is_server_error(),
            "{}: {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_concurrent_streams_keep_the_ledger_balanced() {
    let app = Arc::new(TestApp::new().await);
    let p = practice(&app, "Practice A").await;
    let auths = Arc::new(vec![
        authorization(&app, &p.admin, &p.patient, 40).await,
        authorization(&app, &p.admin, &p.patient, 15).await,
    ]);
    let org = p.admin.organization_id;
    let admin = Arc::new(p.admin);

    let tasks: Vec<_> = (0..6)
        .map(|seed| tokio::spawn(stream(app.clone(), admin.clone(), auths.clone(), seed + 1)))
        .collect();
    for task in tasks {
        task.await.expect("stream");
    }

    let rows = ledger(&app, org).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.consistent), "{rows:#?}");
    assert!(
        rows.iter().any(|r| r.ledger_units != 0),
        "the streams did something"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Reserve(i64),
    Start(usize),
    Complete(usize, i64),
    CompleteMinutes(usize, i64),
    Cancel(usize),
    Adjust(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1..6_i64).prop_map(Op::Reserve),
        1 => any::<usize>().prop_map(Op::Start),
        2 => (any::<usize>(), 0..8_i64).prop_map(|(i, u)| Op::Complete(i, u)),
        1 => (any::<usize>(), 0..120_i64).prop_map(|(i, m)| Op::CompleteMinutes(i, m)),
        1 => any::<usize>().prop_map(Op::Cancel),
        1 => (-6..6_i64).prop_map(Op::Adjust),
    ]
}

async fn apply(app: &TestApp, user: &TestUser, auth: &str, sessions: &mut Vec<String>, op: &Op) {
    let pick = |i: &usize| sessions.get(i % sessions.len().max(1)).cloned();
    let response = match op {
        Op::Reserve(units) => {
            let response = reserve(app, user, auth, *units).await;
            if response.status == StatusCode::CREATED {
                sessions.push(
                    response.json()["session"]["id"]
                        .as_str()
                        .expect("id")
                        .to_owned(),
                );
            }
            response
        }
        Op::Adjust(0) => return,
        Op::Adjust(units) => {
            post(
                app,
                user,
                &format!("/api/authorizations/{auth}/adjust"),
                json!({ "adjustment": units, "reason": "prop" }),
            )
            .await
        }
        Op::Start(i) | Op::Cancel(i) | Op::Complete(i, _) | Op::CompleteMinutes(i, _) => {
            let Some(id) = pick(i) else { return };
            let (action, body) = match op {
                Op::Start(_) => ("start", json!({})),
                Op::Cancel(_) => ("cancel", json!({ "reason": "prop" })),
                Op::Complete(_, units) => ("complete", json!({ "actualUnits": units })),
                Op::CompleteMinutes(_, minutes) => {
                    ("complete", json!({ "actualMinutes": minutes }))
                }
                _ => return,
            };
            post(app, user, &format!("/api/sessions/{id}/{action}"), body).await
        }
    };
    assert!(
        response.status.is_success()
            || response.status == StatusCode::CONFLICT
            || response.status == StatusCode::UNPROCESSABLE_ENTITY,
        "{op:?}: {} {}",
        response.status,
        String::from_utf8_lossy(&response.body)
    );
}

async fn run(ops: Vec<Op>) {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice P").await;
    let org: OrganizationId = p.admin.organization_id;
    let auth = authorization(&app, &p.admin, &p.patient, 20).await;
    let mut sessions = Vec::new();
    for op in &ops {
        apply(&app, &p.admin, &auth, &mut sessions, op).await;
        let rows = ledger(&app, org).await;
        assert!(rows.iter().all(|r| r.consistent), "after {op:?}: {rows:#?}");
        let used = rows[0].used_units;
        assert!((0..=20).contains(&used), "after {op:?}: used {used}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_operation_sequences_keep_the_ledger_balanced_after_every_step(
        ops in prop::collection::vec(op(), 1..24)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run(ops));
    }
}
