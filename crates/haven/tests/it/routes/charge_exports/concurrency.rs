//! Exports racing never export a charge twice: together they export each READY charge once.

use std::collections::HashSet;

use axum::http::StatusCode;
use haven_testkit::TestApp;

use crate::fixtures::charges::{all_ready_by_owner, charge_clinic, completed, export};

#[tokio::test]
async fn concurrent_exports_split_the_ready_charges_and_never_export_one_twice() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    for _ in 0..30 {
        completed(&app, &k, 1, 1).await;
    }
    all_ready_by_owner(&app, &k.c.admin).await;

    let racers = (0..6).map(|i| {
        let format = if i % 2 == 0 { "csv" } else { "837p-json" };
        export(&app, &k.c.billing, format)
    });
    let answers = futures_util::future::join_all(racers).await;

    let mut exported = 0;
    for answer in &answers {
        match answer.status {
            StatusCode::CREATED => {
                exported += answer.json()["export"]["chargeCount"].as_i64().unwrap_or(0)
            }
            StatusCode::UNPROCESSABLE_ENTITY => {}
            other => panic!("{other}: {}", String::from_utf8_lossy(&answer.body)),
        }
    }
    assert_eq!(exported, 30);
    let owner = app.db().owner_pool().await;
    let items: Vec<(String,)> = sqlx::query_as("SELECT charge_id::text FROM charge_export_items")
        .fetch_all(&owner)
        .await
        .expect("items");
    let still_ready: i64 =
        sqlx::query_scalar("SELECT count(*) FROM charges WHERE status = 'READY'")
            .fetch_one(&owner)
            .await
            .expect("count");
    owner.close().await;
    let distinct: HashSet<&String> = items.iter().map(|(id,)| id).collect();
    assert_eq!((items.len(), distinct.len()), (30, 30));
    assert_eq!(still_ready, 0);
}
