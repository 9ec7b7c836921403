//! The ranking of a freed slot uses its partial index on a realistically sized waitlist:
//! 50,000 active entries over four services, `EXPLAIN (FORMAT JSON)` of the very statement
//! the endpoint runs.

use haven::auth::caller::{AuthMethod, Caller};
use haven::domain::Role;
use haven::policy::waitlist::manage;
use haven::store::waitlist::{self, Slot};
use haven_testkit::TestApp;
use serde_json::Value;

use super::{MONDAY_NINE, seed_entries, waitlist_clinic};

fn index_names(plan: &Value, found: &mut Vec<String>) {
    match plan {
        Value::Object(map) => {
            if let Some(Value::String(name)) = map.get("Index Name") {
                found.push(name.clone());
            }
            map.values().for_each(|v| index_names(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| index_names(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn ranking_a_freed_slot_over_50_000_entries_uses_the_ranking_index() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    seed_entries(
        &app,
        c.admin.organization_id,
        50_000,
        &["97153", "97155", "90837", "90834"],
    )
    .await;
    let mut tx = app
        .state()
        .db()
        .begin_tenant(c.admin.organization_id, None)
        .await
        .expect("tx");
    let start = MONDAY_NINE.parse().expect("start");
    let slot = Slot {
        clinician_id: c.clinician.id,
        start,
        end: start + chrono::Duration::minutes(60),
        service_code: "97153".to_owned(),
    };

    let plan = waitlist::explain_rank_for_slot(&mut tx, &slot, 20)
        .await
        .expect("explain");
    let caller = Caller {
        user_id: c.scheduler.id,
        organization_id: c.admin.organization_id,
        role: Role::Scheduler,
        session_id: uuid::Uuid::new_v4(),
        auth_method: AuthMethod::Bearer,
    };
    let may = manage(&caller, "match_entries_for_slot").expect("allowed");
    let ranked = waitlist::rank_for_slot(&mut tx, &may, &slot, 20)
        .await
        .expect("rank");
    tx.rollback().await.expect("rollback");

    let mut indexes = Vec::new();
    index_names(&plan, &mut indexes);
    assert!(
        indexes.iter().any(|i| i == "waitlist_entries_rank"),
        "the ranking index is used: {indexes:?}\n{plan:#}"
    );
    assert_eq!(ranked.len(), 20);
    assert!(ranked.iter().take(2).all(|e| e.priority == "URGENT"));
}
