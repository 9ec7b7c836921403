//! A socket's limits, end to end: five per user across instances (with Redis), a lifetime
//! (4401 when it ends), and a client that stops reading closed with 1013 while the others of
//! its practice keep receiving.

use std::time::Duration;

use axum::http::StatusCode;
use futures_util::{SinkExt, StreamExt};
use haven::audit::{AuditAction, AuditEvent};
use haven::domain::Role;
use haven::ids::OrganizationId;
use haven_testkit::TestApp;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::fixtures::metrics::{scrape, value};
use crate::fixtures::realtime::{
    ORIGIN, Socket, connect, connect_small, next_within, open_with, serve, serve_with_redis, ticket,
};
use crate::fixtures::units::audited;

/// Tries to open one more socket for `user` on `live`: the socket, or the HTTP status and body
/// it was refused with.
async fn try_open(
    app: &TestApp,
    live: &crate::fixtures::realtime::Live,
    user: &haven_testkit::TestUser,
) -> Result<Socket, (StatusCode, Value)> {
    let ticket = ticket(app, user).await;
    open_with(live, &format!("ticket={ticket}"), ORIGIN).await
}

#[tokio::test]
async fn with_redis_a_user_holds_five_sockets_across_instances_and_closing_one_frees_a_slot() {
    const TEST: &str = "with_redis_a_user_holds_five_sockets_across_instances";
    let a = TestApp::new().await;
    let b = a.another_instance().await;
    let prefix = format!("haven-test:{}", uuid::Uuid::new_v4().simple());
    let Some(live_a) = serve_with_redis(&a, &prefix, TEST).await else {
        return;
    };
    let live_b = serve_with_redis(&b, &prefix, TEST).await.expect("Redis");
    let admin = a.org_with("Practice A", Role::Admin).await;
    let client = redis::Client::open(haven_testkit::services::redis_url()).expect("url");
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connecting");
    let sockets_key = haven::realtime::cap::SharedCap::key(&prefix, admin.id);
    // Five sockets of an instance that crashed, their leases run out: they no longer count.
    for i in 0..5 {
        let _: () = redis::cmd("ZADD")
            .arg(&sockets_key)
            .arg(1)
            .arg(format!("crashed-instance:{i}"))
            .query_async(&mut connection)
            .await
            .expect("a lapsed lease");
    }
    let mut sockets = Vec::new();
    for i in 0..5 {
        let (app, live) = if i < 3 { (&a, &live_a) } else { (&b, &live_b) };
        sockets.push(connect(app, live, &admin, None).await);
    }

    let sixth_on_a = try_open(&a, &live_a, &admin).await;
    let sixth_on_b = try_open(&b, &live_b, &admin).await;

    for refused in [sixth_on_a, sixth_on_b] {
        let Err((status, body)) = refused else {
            panic!("a sixth socket opened");
        };
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["error"], "RATE_LIMITED");
    }
    assert_eq!(
        (
            a.state().realtime().connections_of(admin.id),
            b.state().realtime().connections_of(admin.id)
        ),
        (3, 2),
        "each instance alone is under the cap"
    );
    // Closing one (on b) frees a slot (on a) as soon as b has given it back.
    let mut closing = sockets.pop().expect("a socket");
    closing.send(Message::Close(None)).await.expect("closing");
    while closing.next().await.is_some() {}
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let reopened = loop {
        match try_open(&a, &live_a, &admin).await {
            Ok(socket) => break socket,
            Err((StatusCode::TOO_MANY_REQUESTS, _)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => panic!("refused: {other:?}"),
        }
    };
    assert_eq!(a.state().realtime().connections_of(admin.id), 4);
    let held: i64 = redis::cmd("ZCARD")
        .arg(&sockets_key)
        .query_async(&mut connection)
        .await
        .expect("counting");
    assert_eq!(
        held, 5,
        "the lapsed leases are gone, the open sockets counted"
    );
    drop((reopened, sockets, live_a, live_b));
    for key in [
        format!("{prefix}:realtime:leader"),
        format!("{prefix}:realtime:orgs"),
        format!("{prefix}:realtime:cursors"),
        sockets_key,
    ] {
        let _: () = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut connection)
            .await
            .expect("cleaning up");
    }
}

#[tokio::test]
async fn a_socket_is_closed_with_4401_when_its_lifetime_ends() {
    let mut settings = haven::app::Settings::development();
    settings.realtime_max_lifetime = Duration::from_secs(2);
    let app = TestApp::with_settings(settings).await;
    let live = serve(&app).await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let org = admin.organization_id;
    let mut socket = connect(&app, &live, &admin, None).await;
    let opened = std::time::Instant::now();

    let closed = next_within(&mut socket, Duration::from_secs(10)).await;

    assert_eq!(closed, Some(json!({ "close": 4401 })));
    let lived = opened.elapsed();
    assert!(
        lived >= Duration::from_millis(1500) && lived < Duration::from_secs(6),
        "{lived:?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let disconnect = loop {
        if let Some(details) = audited(&app, org, "REALTIME_DISCONNECT").await.pop() {
            break details;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "REALTIME_DISCONNECT written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(disconnect["closeCode"], 4401);
    assert_eq!(disconnect["reason"], "maximum lifetime reached");
}

/// Records `count` audited `APPOINTMENT_CANCEL` events of practice `org` in one transaction
/// (each becomes an `appointment.cancelled` event once sealed).
async fn cancellations(app: &TestApp, org: OrganizationId, count: usize) {
    let events: Vec<AuditEvent> = (0..count)
        .map(|_| {
            AuditEvent::new(AuditAction::AppointmentCancel)
                .with_entity("appointment", uuid::Uuid::now_v7())
        })
        .collect();
    let mut tx = app.state().db().begin_tenant(org, None).await.expect("tx");
    haven::audit::record_many(&mut tx, &events)
        .await
        .expect("recorded");
    tx.commit().await.expect("committed");
}

/// Reads `socket` until it has received `count` events; their last `seq`.
async fn receive(socket: &mut Socket, count: usize) -> i64 {
    let mut last = 0;
    for _ in 0..count {
        let frame = next_within(socket, Duration::from_secs(10))
            .await
            .expect("an event within 10 s");
        assert_eq!(frame["event"], "appointment.cancelled", "{frame}");
        let seq = frame["seq"].as_i64().expect("seq");
        assert!(seq > last, "in order, once");
        last = seq;
    }
    last
}

async fn dropped(app: &TestApp) -> f64 {
    let (_, samples) = scrape(app).await;
    value(&samples, "haven_realtime_dropped_total", &[])
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_with_1013_and_the_others_keep_receiving() {
    const ROUND: usize = 200;
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let org = admin.organization_id;
    let colleague = app.user_in(org, Role::Admin).await;
    let mut reader = connect(&app, &live, &colleague, None).await;
    let mut stalled = connect_small(&app, &live, &admin).await;
    let hub = app.state().realtime().clone();
    let dropped_before = dropped(&app).await;

    // Rounds of events the reader keeps up with, while `stalled` reads nothing: its frames fill
    // its few kilobytes of buffers, then its 256-event queue, and the hub drops it.
    let mut rounds = 0;
    while hub.connections() == 2 {
        assert!(rounds < 100, "the stalled socket was never dropped");
        cancellations(&app, org, ROUND).await;
        receive(&mut reader, ROUND).await;
        rounds += 1;
    }

    assert!(
        dropped(&app).await > dropped_before,
        "haven_realtime_dropped_total moved"
    );
    // Reading again, the stalled client gets what was queued for it, then the 1013 close.
    let mut received = 0;
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), stalled.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => received += 1,
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(code, Some(1013), "after {received} frames");
    assert!(
        received < rounds * ROUND,
        "{received} of {} events",
        rounds * ROUND
    );
    // The reader never noticed.
    cancellations(&app, org, ROUND).await;
    receive(&mut reader, ROUND).await;
    assert_eq!(hub.connections(), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !audited(&app, org, "REALTIME_DISCONNECT")
        .await
        .iter()
        .any(|d| d["closeCode"] == 1013)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the 1013 disconnect audited"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
