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

/// Every plan node as (node type, index name).
fn nodes(plan: &Value, found: &mut Vec<(String, String)>) {
    match plan {
        Value::Object(map) => {
            if let Some(Value::String(kind)) = map.get("Node Type") {
                let index = map
                    .get("Index Name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                found.push((kind.clone(), index.to_owned()));
            }
            map.values().for_each(|v| nodes(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| nodes(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn ranking_a_freed_slot_over_50_000_entries_walks_the_ranking_index_in_order() {
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

    let plan = waitlist::explain_rank_for_slot(&mut tx, &slot, 20, false)
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

    let mut found = Vec::new();
    nodes(&plan, &mut found);
    assert!(
        found
            .iter()
            .any(|(kind, index)| kind == "Index Scan" && index == "waitlist_entries_rank"),
        "the ranking index is scanned in order: {found:?}\n{plan:#}"
    );
    assert!(
        !found.iter().any(|(kind, _)| kind == "Sort"),
        "no sort of the candidates: the LIMIT stops the index scan early\n{plan:#}"
    );
    assert_eq!(ranked.len(), 20);
    let keys: Vec<_> = ranked
        .iter()
        .map(|e| (e.priority != "URGENT", e.waiting_since))
        .collect();
    assert!(
        keys.windows(2).all(|pair| pair[0] <= pair[1]),
        "URGENT first, then longest waiting"
    );
}
