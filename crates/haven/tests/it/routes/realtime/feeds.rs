//! The events of units, break-the-glass, notes and charges reach the roles SPEC §8 names, and a
//! psychotherapy note's reach its author alone.

use std::time::Duration;

use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::Value;

use crate::fixtures::btg::grant_id;
use crate::fixtures::charges::{charge_clinic, completed, session_note};
use crate::fixtures::notes::{note_clinic, sign, signed};
use crate::fixtures::realtime::{Socket, connect, next, next_within, serve};
use crate::fixtures::units::{authorization, practice, reserved};

/// The event names a socket receives until it has been quiet for a moment.
async fn names(socket: &mut Socket) -> Vec<String> {
    let mut out = Vec::new();
    let mut first = true;
    loop {
        let wait = if first {
            Duration::from_secs(10)
        } else {
            Duration::from_millis(500)
        };
        first = false;
        let Some(frame) = next_within(socket, wait).await else {
            return out;
        };
        out.push(frame["event"].as_str().unwrap_or_default().to_owned());
    }
}

#[tokio::test]
async fn billing_hears_of_low_and_exhausted_units_and_compliance_of_break_the_glass() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let p = practice(&app, "Practice A").await;
    let org = p.admin.organization_id;
    let billing = app.user_in(org, Role::Billing).await;
    let compliance = app.user_in(org, Role::Compliance).await;
    let clinician = app.user_in(org, Role::Clinician).await;
    let mut admin_socket = connect(&app, &live, &p.admin, None).await;
    let mut billing_socket = connect(&app, &live, &billing, None).await;
    let mut compliance_socket = connect(&app, &live, &compliance, None).await;

    let low = authorization(&app, &p.admin, &p.patient, 20).await;
    reserved(&app, &p.admin, &low, 19).await;
    let exhausted = authorization(&app, &p.admin, &p.patient, 20).await;
    reserved(&app, &p.admin, &exhausted, 20).await;
    grant_id(&app, &p.admin, &clinician, &p.patient).await;

    assert_eq!(
        names(&mut billing_socket).await,
        ["authorization.lowUnits", "authorization.exhausted"]
    );
    assert_eq!(names(&mut compliance_socket).await, ["btg.granted"]);
    assert_eq!(
        names(&mut admin_socket).await,
        [
            "session.reserved",
            "authorization.lowUnits",
            "session.reserved",
            "authorization.exhausted",
            "btg.granted",
        ]
    );
}

#[tokio::test]
async fn a_signed_note_reaches_the_care_team_and_a_psychotherapy_note_only_its_author() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let c = note_clinic(&app, "Practice A").await;
    let mut author = connect(&app, &live, &c.author, None).await;
    let mut colleague = connect(&app, &live, &c.colleague, None).await;
    let mut outsider = connect(&app, &live, &c.outsider, None).await;
    let mut admin = connect(&app, &live, &c.admin, None).await;

    let private = signed(&app, &c.author, &c.patient, "PSYCHOTHERAPY").await;
    let progress = signed(&app, &c.author, &c.patient, "PROGRESS").await;

    let entity = |frame: &Value| frame["entityId"].as_str().unwrap_or_default().to_owned();
    let first = next(&mut author).await;
    assert_eq!(
        (first["event"].as_str(), entity(&first)),
        (Some("note.signed"), private)
    );
    let second = next(&mut author).await;
    assert_eq!(entity(&second), progress);
    for socket in [&mut colleague, &mut admin] {
        let frame = next(socket).await;
        assert_eq!(
            (frame["event"].as_str(), entity(&frame)),
            (Some("note.signed"), progress.clone())
        );
        assert!(
            next_within(socket, Duration::from_millis(300))
                .await
                .is_none()
        );
    }
    assert!(
        next_within(&mut outsider, Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn billing_hears_that_a_charge_became_ready_when_its_note_is_signed() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let k = charge_clinic(&app, "Practice A").await;
    let session = completed(&app, &k, 2, 2).await;
    let note = session_note(&app, &k, &session, "PROGRESS").await;
    let mut billing = connect(&app, &live, &k.c.billing, None).await;

    assert_eq!(sign(&app, &k.c.author, &note).await.status.as_u16(), 200);

    let frame = next(&mut billing).await;
    assert_eq!(frame["event"], "charge.ready", "{frame}");
    assert_eq!(frame["entityType"], "charge");
    assert_eq!(names(&mut billing).await, Vec::<String>::new());
}
