//! The detector's statements per batch do not grow with the number of users in it: every
//! statement sqlx runs inside the batch's span is counted (a subscriber local to this test's
//! thread), for a batch where 2 users cross EXCESSIVE_PHI_ACCESS and one where 8 do.

use haven::domain::Role;
use haven::security::detector;
use haven_testkit::TestApp;
use tracing::Instrument;

use crate::fixtures::security::{always_open, patients, read_patient};
use crate::fixtures::statements::count_in;

/// A practice where `users` admins each read 21 patients; answers the statements of the
/// detector's batch over it and the incidents it found.
async fn batch_with(app: &TestApp, name: &str, users: usize) -> (usize, usize) {
    let admin = app.org_with(name, Role::Admin).await;
    always_open(app, &admin).await;
    let ids = patients(app, &admin, 21).await;
    let mut readers = vec![admin.clone()];
    for _ in 1..users {
        readers.push(app.user_in(admin.organization_id, Role::Admin).await);
    }
    for reader in &readers {
        for id in &ids {
            read_patient(app, reader, id).await;
        }
    }
    app.state().sealer().flush().await.expect("flush");
    let (statements, guard) = count_in("detector_batch", "detector_statements");
    let mut tx = app
        .state()
        .db()
        .begin_tenant(admin.organization_id, None)
        .await
        .expect("tx");
    let outcome = detector::evaluate(&mut tx, detector::BATCH)
        .instrument(tracing::info_span!(target: "detector_statements", "detector_batch"))
        .await
        .expect("evaluate");
    drop(guard);
    tx.commit().await.expect("commit");
    (statements.count(), outcome.incidents.len())
}

#[tokio::test]
async fn two_or_eight_users_take_the_same_statements() {
    let app = TestApp::new().await;

    let (two, two_found) = batch_with(&app, "Practice A", 2).await;
    let (eight, eight_found) = batch_with(&app, "Practice B", 8).await;

    assert_eq!(two_found, 2);
    assert_eq!(eight_found, 8);
    assert!(two > 0);
    assert_eq!(
        two, eight,
        "statements per batch: 2 users {two}, 8 users {eight}"
    );
}
