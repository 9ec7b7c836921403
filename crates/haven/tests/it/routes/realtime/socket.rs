//! The socket's rules: client frames, closing on revocation, role change, disabling and
//! shutdown, and the metrics.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use futures_util::SinkExt;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::fixtures::metrics::scrape;
use crate::fixtures::realtime::{
    ORIGIN, connect, next, next_within, open_with, say, serve, ticket,
};
use crate::fixtures::scheduling::{booked, clinic};

#[tokio::test]
async fn bad_client_frames_get_an_error_frame_and_the_socket_stays_open() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let scheduler = app.org_with("Practice A", Role::Scheduler).await;
    let mut socket = connect(&app, &live, &scheduler, None).await;

    for (text, error) in [
        ("not json", "INVALID_MESSAGE"),
        (r#"{"type":"unsubscribe"}"#, "UNKNOWN_MESSAGE"),
        (
            r#"{"type":"subscribe","topics":["gossip"]}"#,
            "UNKNOWN_TOPIC",
        ),
        (
            r#"{"type":"subscribe","topics":["security"]}"#,
            "FORBIDDEN_TOPIC",
        ),
    ] {
        say(&mut socket, text).await;
        let frame = next(&mut socket).await;
        assert_eq!(frame["type"], "error", "{text}");
        assert_eq!(frame["error"], error, "{text}");
    }
    socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .expect("sending");
    assert_eq!(next(&mut socket).await["error"], "INVALID_MESSAGE");
    say(&mut socket, r#"{"type":"subscribe","topics":["waitlist"]}"#).await;
    assert_eq!(
        next(&mut socket).await,
        json!({"type": "subscribed", "topics": ["waitlist"]})
    );
}

#[tokio::test]
async fn subscribing_narrows_what_the_socket_receives() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let c = clinic(&app, "Practice A", 0).await;
    let mut narrowed = connect(&app, &live, &c.scheduler, None).await;
    let mut whole = connect(&app, &live, &c.scheduler, None).await;
    say(
        &mut narrowed,
        r#"{"type":"subscribe","topics":["waitlist"]}"#,
    )
    .await;
    assert_eq!(next(&mut narrowed).await["type"], "subscribed");

    booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        "2027-01-07T15:00:00Z",
        json!({}),
    )
    .await;

    assert_eq!(next(&mut whole).await["event"], "appointment.booked");
    assert!(
        next_within(&mut narrowed, Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn an_oversized_frame_closes_with_1009_and_a_flood_with_1008_and_others_are_unaffected() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let mut oversized = connect(&app, &live, &admin, None).await;
    let mut flooding = connect(&app, &live, &admin, None).await;
    let mut bystander = connect(&app, &live, &admin, None).await;

    let _ = oversized
        .send(Message::Text("x".repeat(10_000).into()))
        .await;
    for _ in 0..1000 {
        if flooding
            .send(Message::Text(r#"{"type":"subscribe","topics":[]}"#.into()))
            .await
            .is_err()
        {
            break;
        }
    }

    assert_eq!(next(&mut oversized).await, json!({"close": 1009}));
    let mut closed = None;
    while let Some(frame) = next_within(&mut flooding, Duration::from_secs(5)).await {
        if frame.get("close").is_some() {
            closed = Some(frame);
            break;
        }
    }
    assert_eq!(closed, Some(json!({"close": 1008})));
    say(
        &mut bystander,
        r#"{"type":"subscribe","topics":["security"]}"#,
    )
    .await;
    assert_eq!(next(&mut bystander).await["type"], "subscribed");
}

#[tokio::test]
async fn logging_out_disabling_the_user_or_changing_their_role_closes_the_socket_with_4401() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let org = admin.organization_id;
    let leaving = app.user_in(org, Role::Clinician).await;
    let disabled = app.user_in(org, Role::Clinician).await;
    let promoted = app.user_in(org, Role::Scheduler).await;
    let bystander = app.user_in(org, Role::Clinician).await;
    let mut sockets = [
        connect(&app, &live, &leaving, None).await,
        connect(&app, &live, &disabled, None).await,
        connect(&app, &live, &promoted, None).await,
    ];
    let mut untouched = connect(&app, &live, &bystander, None).await;

    let logout = app
        .json_as(&leaving, Method::POST, "/api/auth/logout", &json!({}))
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    for (user, change) in [
        (&disabled, json!({"disabled": true})),
        (&promoted, json!({"role": "BILLING"})),
    ] {
        let changed = app
            .json_as(
                &admin,
                Method::PATCH,
                &format!("/api/users/{}", user.id),
                &change,
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK);
    }

    for socket in &mut sockets {
        // Within the 5 s re-check (SPEC: 60 s), plus the revocation set's half-second refresh.
        let frame = next_within(socket, Duration::from_secs(8)).await;
        assert_eq!(frame, Some(json!({"close": 4401})));
    }
    assert!(
        next_within(&mut untouched, Duration::from_millis(200))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001_and_refuses_new_ones() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let mut socket = connect(&app, &live, &admin, None).await;
    let ticket = ticket(&app, &admin).await;

    app.state().realtime().close_all();

    assert_eq!(next(&mut socket).await, json!({"close": 1001}));
    let refused = open_with(&live, &format!("ticket={ticket}"), ORIGIN).await;
    assert_eq!(
        refused.err().map(|e| e.0),
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
}

#[tokio::test]
async fn connections_are_counted_in_the_metrics() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let _socket = connect(&app, &live, &admin, None).await;

    let (text, _) = scrape(&app).await;

    for name in [
        "haven_realtime_connections",
        "haven_realtime_lag_seconds",
        "haven_realtime_dropped_total",
    ] {
        assert!(text.contains(&format!("# TYPE {name}")), "{name}");
    }
}

#[tokio::test]
async fn a_heartbeat_comes_every_25_seconds() {
    use futures_util::StreamExt;

    let app = TestApp::new().await;
    let live = serve(&app).await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let mut socket = connect(&app, &live, &admin, None).await;
    let opened = std::time::Instant::now();

    let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
        .await
        .expect("a frame within 30 s")
        .expect("open")
        .expect("readable");

    let Message::Text(text) = frame else {
        panic!("a text frame: {frame:?}");
    };
    let frame: serde_json::Value = serde_json::from_str(text.as_str()).expect("JSON");
    assert_eq!(frame, json!({"type": "heartbeat", "seq": 0}));
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_secs(24) && waited < Duration::from_secs(28),
        "{waited:?}"
    );
}
