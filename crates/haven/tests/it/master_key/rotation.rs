//! The rotation itself (`haven::kek::rotate_master`), in process.

use axum::http::StatusCode;
use haven::crypto::MasterKeys;
use haven::kek::{RotateError, rotate_master};
use haven::phi::{Keyring, PhiError};
use haven_testkit::random_master_key;
use sqlx::{Connection, PgConnection};

use super::{deployment, everything_opens, usage};
use crate::fixtures::auth::now;
use crate::fixtures::patients::create_id;

#[tokio::test]
async fn after_a_rotation_with_data_present_haven_runs_on_the_new_key_alone() {
    let d = deployment().await;
    let (old, new) = (d.old_key(), random_master_key());
    let wrapped: i64 = usage(&d.app).await.iter().map(|(_, n)| n).sum();

    // Step 1: an instance restarted with the new key and the previous one.
    let during = d
        .app
        .instance_with_keys(MasterKeys::new(new.clone(), [old.clone()]))
        .await;
    everything_opens(&during, &d, now()).await;
    // Step 2: the rotation, in batches of two.
    let report = rotate_master(
        during.state().db(),
        &MasterKeys::new(new.clone(), [old.clone()]),
        2,
    )
    .await
    .expect("rotates");
    // Step 3: the previous key dropped.
    let after = d.app.instance_with_keys(new.clone()).await;

    assert_eq!(
        i64::try_from(report.rewrapped()).expect("fits"),
        wrapped,
        "{report:?}"
    );
    assert_eq!((report.secrets, report.signing_keys), (4, 1), "{report:?}");
    assert_eq!(usage(&after).await, vec![(Some(new.kek_id()), wrapped)]);
    everything_opens(&after, &d, now() + 30).await;
    let fresh = create_id(&after, &d.practices[2].admin, "MRN-MK-NEW", "Afterwards").await;
    let read = after
        .get_as(&d.practices[2].admin, &format!("/api/patients/{fresh}"))
        .await;
    assert_eq!(read.status, StatusCode::OK);
}

#[tokio::test]
async fn the_rotation_is_audited_on_the_platform_chain_with_ids_and_counts_only() {
    let d = deployment().await;
    let (old, new) = (d.old_key(), random_master_key());

    let report = rotate_master(
        d.app.state().db(),
        &MasterKeys::new(new.clone(), [old.clone()]),
        100,
    )
    .await
    .expect("rotates");

    let events = d
        .app
        .audit_events(haven::ids::OrganizationId::PLATFORM)
        .await;
    let started: Vec<_> = events
        .iter()
        .filter(|(action, _, _)| action == "MASTER_KEY_ROTATION_STARTED")
        .collect();
    let completed: Vec<_> = events
        .iter()
        .filter(|(action, _, _)| action == "MASTER_KEY_ROTATION_COMPLETED")
        .collect();
    assert_eq!((started.len(), completed.len()), (1, 1));
    assert_eq!(started[0].2["toKekId"], new.kek_id().as_str());
    assert_eq!(
        started[0].2["fromKekIds"],
        serde_json::json!([old.kek_id().as_str()])
    );
    assert_eq!(
        completed[0].2["rewrapped"]["organizationKeys"],
        report.organization_keys
    );
    assert_eq!(completed[0].2["wrappedKeys"], report.total);
    let text = serde_json::to_string(&events).expect("json");
    for key in [&old, &new] {
        let encoded =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key.expose());
        assert!(!text.contains(&encoded), "no key material in the trail");
        assert!(!text.contains(&hex::encode(key.expose())));
    }
}

#[tokio::test]
async fn an_instance_left_on_the_old_key_keeps_what_it_holds_and_names_the_key_it_lacks() {
    let d = deployment().await;
    let (old, new) = (d.old_key(), random_master_key());
    let practice = &d.practices[1];
    let (patient, _) = &practice.patients[0];

    rotate_master(
        d.app.state().db(),
        &MasterKeys::new(new.clone(), [old.clone()]),
        100,
    )
    .await
    .expect("rotates");

    // The running instance still holds its unwrapped keys: it keeps serving.
    let cached = d
        .app
        .get_as(&practice.admin, &format!("/api/patients/{patient}"))
        .await;
    assert_eq!(cached.status, StatusCode::OK);
    // A cold keyring with only the old key cannot open the re-wrapped keys and says which key
    // it lacks.
    let cold = Keyring::new(&old);
    let mut tx = d
        .app
        .state()
        .db()
        .begin_tenant(practice.admin.organization_id, None)
        .await
        .expect("begin");
    let error = cold.data_key(&mut tx).await.expect_err("cannot unwrap");
    assert!(
        matches!(&error, PhiError::MasterKeyMissing(kek) if *kek == new.kek_id()),
        "{error:?}"
    );
    assert!(error.to_string().contains("HAVEN_PREVIOUS_MASTER_KEY_FILE"));
    drop(tx);
    // Restarting it with the old key alone stops at start, naming the key.
    let started = haven::App::start(
        d.app.state().db().clone(),
        old.clone(),
        haven::app::Settings::development(),
    )
    .await;
    let message = format!("{:#}", started.expect_err("refuses to start"));
    assert!(message.contains(new.kek_id().as_str()), "{message}");
}

#[tokio::test]
async fn keys_stored_before_key_ids_were_recorded_open_and_are_rewrapped() {
    let d = deployment().await;
    let (old, new) = (d.old_key(), random_master_key());
    // What an upgraded database holds: wrapped keys without a key id (written with the guard
    // trigger off, as the rows of before the migration were).
    let mut su = PgConnection::connect_with(&d.app.db().superuser_options())
        .await
        .expect("superuser");
    sqlx::raw_sql(
        "SET session_replication_role = replica; \
         UPDATE organization_keys SET kek_id = NULL; UPDATE signing_keys SET kek_id = NULL; \
         SET session_replication_role = origin;",
    )
    .execute(&mut su)
    .await
    .expect("legacy rows");
    let legacy = d.app.instance_with_keys(old.clone()).await;
    everything_opens(&legacy, &d, now()).await;
    assert!(usage(&legacy).await.iter().any(|(kek, _)| kek.is_none()));

    rotate_master(
        legacy.state().db(),
        &MasterKeys::new(new.clone(), [old.clone()]),
        3,
    )
    .await
    .expect("rotates");

    let after = d.app.instance_with_keys(new.clone()).await;
    assert!(
        usage(&after)
            .await
            .iter()
            .all(|(kek, _)| kek.as_ref() == Some(&new.kek_id()))
    );
    everything_opens(&after, &d, now() + 30).await;
}

#[tokio::test]
async fn a_rotation_not_given_the_key_that_wrapped_the_rows_refuses_and_changes_nothing() {
    let d = deployment().await;
    let (old, wrong, new) = (d.old_key(), random_master_key(), random_master_key());
    let before = usage(&d.app).await;

    let result = rotate_master(
        d.app.state().db(),
        &MasterKeys::new(new.clone(), [wrong]),
        100,
    )
    .await;

    match result {
        Err(RotateError::UnknownKey { kek, count }) => {
            assert_eq!(kek, old.kek_id());
            assert_eq!(count, before[0].1);
        }
        other => panic!("expected UnknownKey, got {other:?}"),
    }
    assert_eq!(usage(&d.app).await, before, "nothing changed");
}

#[tokio::test]
async fn a_second_rotation_at_the_same_time_is_refused() {
    let d = deployment().await;
    let (old, new) = (d.old_key(), random_master_key());
    let mut holder = PgConnection::connect_with(&d.app.db().app_options())
        .await
        .expect("connect");
    sqlx::query("SELECT pg_advisory_lock(hashtext('haven.master_key_rotation'))")
        .execute(&mut holder)
        .await
        .expect("lock");
    let before = usage(&d.app).await;

    let result = rotate_master(
        d.app.state().db(),
        &MasterKeys::new(new.clone(), [old.clone()]),
        100,
    )
    .await;

    assert!(matches!(result, Err(RotateError::Busy)), "{result:?}");
    assert_eq!(usage(&d.app).await, before, "nothing changed");
    holder.close().await.expect("close");
    rotate_master(
        d.app.state().db(),
        &MasterKeys::new(new.clone(), [old]),
        100,
    )
    .await
    .expect("runs once the other is gone");
}
