//! What each role receives, in which order, and the replay of missed events.

use std::time::Duration;

use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::realtime::{Socket, connect, next, next_within, serve};
use crate::fixtures::scheduling::{booked, clinic, on_care_team};

/// The next event frame named `name` (other events may come first), asserting sequence order.
async fn event_named(socket: &mut Socket, name: &str, after: &mut i64) -> Value {
    loop {
        let frame = next(socket).await;
        assert_eq!(frame["type"], "event", "{frame}");
        let seq = frame["seq"].as_i64().expect("seq");
        assert!(
            seq > *after,
            "in sequence order, never twice: {seq} after {after}"
        );
        *after = seq;
        if frame["event"] == name {
            return frame;
        }
    }
}

/// Whether `socket` receives an event named `name` within a moment.
async fn receives_none(socket: &mut Socket) -> bool {
    next_within(socket, Duration::from_millis(300))
        .await
        .is_none()
}

#[tokio::test]
async fn each_role_receives_only_what_it_may_see_as_thin_events_in_order() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let c = clinic(&app, "Practice A", 0).await;
    let org = c.admin.organization_id;
    let billing = app.user_in(org, Role::Billing).await;
    let compliance = app.user_in(org, Role::Compliance).await;
    let stranger = app.user_in(org, Role::Clinician).await;
    let mut admin = connect(&app, &live, &c.admin, None).await;
    let mut clinician = connect(&app, &live, &c.clinician, None).await;
    let mut scheduler = connect(&app, &live, &c.scheduler, None).await;
    let mut billing = connect(&app, &live, &billing, None).await;
    let mut compliance = connect(&app, &live, &compliance, None).await;
    let mut stranger = connect(&app, &live, &stranger, None).await;

    let first = booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        "2027-01-07T15:00:00Z",
        json!({}),
    )
    .await;
    let second = booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        "2027-01-08T15:00:00Z",
        json!({}),
    )
    .await;

    for socket in [&mut admin, &mut clinician, &mut scheduler] {
        let mut after = 0;
        let one = event_named(socket, "appointment.booked", &mut after).await;
        let two = event_named(socket, "appointment.booked", &mut after).await;
        assert_eq!(one["entityId"], first["id"]);
        assert_eq!(two["entityId"], second["id"]);
        assert_eq!(one["entityType"], "appointment");
        assert_eq!(one["patientId"], c.patient.as_str());
        let mut keys: Vec<&str> = one
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "entityId",
                "entityType",
                "event",
                "occurredAt",
                "patientId",
                "seq",
                "type"
            ],
            "ids and types only, never PHI"
        );
    }
    for socket in [&mut billing, &mut compliance, &mut stranger] {
        assert!(receives_none(socket).await);
    }
}

#[tokio::test]
async fn a_clinician_added_to_a_care_team_receives_that_patients_events_from_then_on() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let c = clinic(&app, "Practice A", 0).await;
    let colleague = app.user_in(c.admin.organization_id, Role::Clinician).await;
    let mut socket = connect(&app, &live, &colleague, None).await;
    booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        "2027-01-07T15:00:00Z",
        json!({}),
    )
    .await;
    assert!(receives_none(&mut socket).await);

    on_care_team(&app, &c.admin, &c.patient, &colleague).await;
    let later = booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        "2027-01-08T15:00:00Z",
        json!({}),
    )
    .await;

    let mut after = 0;
    let frame = event_named(&mut socket, "appointment.booked", &mut after).await;
    assert_eq!(frame["entityId"], later["id"]);
}

#[tokio::test]
async fn since_replays_the_missed_events_in_order_then_live_ones_never_twice() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let c = clinic(&app, "Practice A", 0).await;
    let mut first = connect(&app, &live, &c.admin, None).await;
    booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        "2027-01-07T15:00:00Z",
        json!({}),
    )
    .await;
    let mut seen = 0;
    let _ = event_named(&mut first, "appointment.booked", &mut seen).await;
    drop(first);
    let missed = [
        booked(
            &app,
            &c.scheduler,
            &c.patient,
            &c.clinician,
            "2027-01-08T15:00:00Z",
            json!({}),
        )
        .await,
        booked(
            &app,
            &c.scheduler,
            &c.patient,
            &c.clinician,
            "2027-01-11T15:00:00Z",
            json!({}),
        )
        .await,
    ];
    // Both sealed before the socket opens: they can only come from the replay.
    app.state().sealer().flush().await.expect("sealing");

    let mut socket = connect(&app, &live, &c.admin, Some(seen)).await;
    let mut after = seen;
    for appointment in &missed {
        let frame = event_named(&mut socket, "appointment.booked", &mut after).await;
        assert_eq!(frame["entityId"], appointment["id"]);
    }
    let live_one = booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        "2027-01-12T15:00:00Z",
        json!({}),
    )
    .await;

    let frame = event_named(&mut socket, "appointment.booked", &mut after).await;
    assert_eq!(frame["entityId"], live_one["id"]);
    assert!(receives_none(&mut socket).await, "nothing is sent twice");
}

#[tokio::test]
async fn a_since_beyond_the_head_gets_a_resync_to_the_head() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let c = clinic(&app, "Practice A", 0).await;
    booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        "2027-01-07T15:00:00Z",
        json!({}),
    )
    .await;
    app.state().sealer().flush().await.expect("sealing");

    let mut socket = connect(&app, &live, &c.admin, Some(1_000_000)).await;

    let frame = next(&mut socket).await;
    assert_eq!(frame["type"], "resync");
    let head = frame["seq"].as_i64().expect("seq");
    assert!(head > 0 && head < 1_000_000, "{frame}");
    let later = booked(
        &app,
        &c.scheduler,
        &c.patient,
        &c.clinician,
        "2027-01-08T15:00:00Z",
        json!({}),
    )
    .await;
    let mut after = head;
    let frame = event_named(&mut socket, "appointment.booked", &mut after).await;
    assert_eq!(frame["entityId"], later["id"]);
}
