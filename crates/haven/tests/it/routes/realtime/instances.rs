//! Several instances: with Redis one leader publishes each event once, and every instance
//! delivers it to its own sockets, once each.

use std::time::Duration;

use futures_util::StreamExt;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::realtime::{connect, next, next_within, serve_with_redis};
use crate::fixtures::scheduling::{booked, clinic};

#[tokio::test]
async fn with_redis_one_leader_publishes_an_event_once_and_each_instance_delivers_it_once() {
    const TEST: &str = "with_redis_one_leader_publishes_an_event_once";
    let a = TestApp::new().await;
    let b = a.another_instance().await;
    let prefix = format!("haven-test:{}", uuid::Uuid::new_v4().simple());
    let Some(live_a) = serve_with_redis(&a, &prefix, TEST).await else {
        return;
    };
    let live_b = serve_with_redis(&b, &prefix, TEST).await.expect("Redis");
    let client = redis::Client::open(haven_testkit::services::redis_url()).expect("url");
    let mut channel = client.get_async_pubsub().await.expect("pubsub");
    channel
        .subscribe(haven::realtime::fanout::channel(&prefix))
        .await
        .expect("subscribing");
    let c = clinic(&a, "Practice A", 0).await;
    let colleague = b.user_in(c.admin.organization_id, Role::Scheduler).await;
    let mut on_a = connect(&a, &live_a, &c.admin, None).await;
    let mut on_b = connect(&b, &live_b, &colleague, None).await;

    let appointment = booked(
        &a,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        "2027-01-07T15:00:00Z",
        json!({}),
    )
    .await;

    for socket in [&mut on_a, &mut on_b] {
        let frame = next(socket).await;
        assert_eq!(frame["event"], "appointment.booked");
        assert_eq!(frame["entityId"], appointment["id"]);
        assert!(
            next_within(socket, Duration::from_millis(500))
                .await
                .is_none(),
            "delivered once per socket"
        );
    }
    let mut published = 0;
    let mut messages = channel.on_message();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, messages.next()).await {
        let body: Value = serde_json::from_slice(message.get_payload_bytes()).expect("JSON");
        published += body["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|row| row["entity_id"] == appointment["id"])
            .count();
    }
    assert_eq!(published, 1, "one leader published the row, once");
    drop((live_a, live_b));
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connecting");
    for key in ["leader", "orgs", "cursors"] {
        let _: () = redis::cmd("DEL")
            .arg(format!("{prefix}:realtime:{key}"))
            .query_async(&mut connection)
            .await
            .expect("cleaning up");
    }
}
