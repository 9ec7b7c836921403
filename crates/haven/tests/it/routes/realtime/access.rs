//! Tenancy: a socket belongs to its ticket's organization, and receives nothing of another's,
//! live or replayed.

use std::time::Duration;

use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::realtime::{connect, next, next_within, serve};
use crate::fixtures::scheduling::{booked, clinic};

#[tokio::test]
async fn another_practices_sockets_receive_none_of_its_events_live_or_replayed() {
    let app = TestApp::new().await;
    let live = serve(&app).await;
    let a = clinic(&app, "Practice A", 0).await;
    let other = app.org_with("Practice B", Role::Admin).await;
    let mut theirs = connect(&app, &live, &other, None).await;
    let mut ours = connect(&app, &live, &a.admin, None).await;

    booked(
        &app,
        &a.scheduler,
        &a.patient,
        &a.clinician,
        "2027-01-07T15:00:00Z",
        json!({}),
    )
    .await;
    app.state().sealer().flush().await.expect("sealing");

    assert_eq!(next(&mut ours).await["event"], "appointment.booked");
    assert!(
        next_within(&mut theirs, Duration::from_millis(300))
            .await
            .is_none()
    );
    let mut replayed = connect(&app, &live, &other, Some(0)).await;
    assert!(
        next_within(&mut replayed, Duration::from_millis(300))
            .await
            .is_none(),
        "since=0 replays only the practice's own chain"
    );
}
