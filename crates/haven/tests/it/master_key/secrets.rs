//! The deployment secrets in `wrapped_secrets`, and the database's guard on key ids.

use haven::audit::seal::CheckpointKey;
use haven::crypto::{AeadKey, MasterKeys};
use haven::ids::OrganizationId;
use haven::kek::rotate_master;
use haven_testkit::{TestApp, random_master_key};
use sqlx::{Connection, PgConnection};

use super::{deployment, everything_opens, usage};
use crate::fixtures::auth::now;

#[tokio::test]
async fn the_stored_secrets_are_the_bytes_derived_before_so_an_upgrade_rewrites_nothing() {
    let app = TestApp::new().await;
    let master = app.state().master_key().clone();
    let org = OrganizationId::new();

    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM wrapped_secrets")
        .fetch_one(&app.db().owner_pool().await)
        .await
        .expect("count");

    assert_eq!(stored, 4);
    assert_eq!(
        app.state().checkpoint_key().sign(org, 7, b"head"),
        CheckpointKey::new(&master).sign(org, 7, b"head"),
        "checkpoints signed before the upgrade still verify"
    );
    let sealed_before = AeadKey::derive(&master, "mfa-secrets").seal(b"totp", b"aad");
    assert_eq!(
        app.state()
            .mfa_key()
            .open(&sealed_before, b"aad")
            .expect("TOTP secrets sealed before the upgrade open")
            .as_slice(),
        b"totp"
    );
}

#[tokio::test]
async fn upgrading_and_rotating_at_once_keeps_checkpoints_and_mfa_secrets() {
    let d = deployment().await;
    let (old, new) = (d.old_key(), random_master_key());
    // A database of before this version: checkpoints and TOTP secrets made under keys derived
    // from the old master key, wrapped keys without key ids, and no `wrapped_secrets`.
    let mut su = PgConnection::connect_with(&d.app.db().superuser_options())
        .await
        .expect("superuser");
    sqlx::raw_sql(
        "SET session_replication_role = replica; DELETE FROM wrapped_secrets; \
         UPDATE organization_keys SET kek_id = NULL; UPDATE signing_keys SET kek_id = NULL; \
         SET session_replication_role = origin;",
    )
    .execute(&mut su)
    .await
    .expect("a database of before");
    let stored = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM wrapped_secrets")
            .fetch_one(&d.app.db().owner_pool().await)
            .await
            .expect("count")
    };

    // Started with the new key alone by mistake: refused, and no secret derived from it stored.
    let wrong = haven::App::start(
        d.app.state().db().clone(),
        new.clone(),
        haven::app::Settings::development(),
    )
    .await;
    assert!(wrong.is_err());
    assert_eq!(stored().await, 0);
    // Started with the keys swapped: the secrets are still the old key's bytes.
    let swapped = d
        .app
        .instance_with_keys(MasterKeys::new(old.clone(), [new.clone()]))
        .await;
    let org = OrganizationId::new();
    assert_eq!(
        swapped.state().checkpoint_key().sign(org, 3, b"head"),
        CheckpointKey::new(&old).sign(org, 3, b"head")
    );
    // As the runbook says: the new key and the previous one, the rotation, the new key alone.
    let during = d
        .app
        .instance_with_keys(MasterKeys::new(new.clone(), [old.clone()]))
        .await;
    everything_opens(&during, &d, now()).await;
    rotate_master(
        during.state().db(),
        &MasterKeys::new(new.clone(), [old]),
        100,
    )
    .await
    .expect("rotates");
    let after = d.app.instance_with_keys(new.clone()).await;

    everything_opens(&after, &d, now() + 30).await;
}

#[tokio::test]
async fn instances_starting_together_agree_on_one_set_of_secrets() {
    let first = TestApp::new().await;
    let key = first.state().master_key().clone();
    let org = OrganizationId::new();

    let starts: Vec<_> = (0..4)
        .map(|_| {
            let (pool, key) = (first.state().db().clone(), key.clone());
            tokio::spawn(async move {
                haven::App::start(pool, key, haven::app::Settings::development()).await
            })
        })
        .collect();
    let expected = first.state().checkpoint_key().sign(org, 1, b"h");
    for start in starts {
        let app = start.await.expect("joins").expect("starts");
        assert_eq!(app.checkpoint_key().sign(org, 1, b"h"), expected);
    }
    assert_eq!(usage(&first).await, vec![(Some(key.kek_id()), 5)]);
}

#[tokio::test]
async fn the_database_refuses_a_wrapped_key_that_does_not_name_its_master_key() {
    let d = deployment().await;
    let owner = d.app.db().owner_pool().await;
    let refused = |sql: &'static str| {
        let owner = owner.clone();
        async move {
            let error = sqlx::query(sql).execute(&owner).await.expect_err(sql);
            assert!(error.to_string().contains("kek_id"), "{sql}: {error}");
        }
    };

    refused(
        "INSERT INTO signing_keys (kid, algorithm, public_key_der, private_key_encrypted) \
         VALUES ('planted-key-0001', 'RS256', '\\x00', '\\x00')",
    )
    .await;
    refused("UPDATE organization_keys SET kek_id = NULL").await;
    refused("UPDATE signing_keys SET kek_id = NULL").await;
    refused("UPDATE wrapped_secrets SET kek_id = 'not-an-id'").await;

    // A legacy row (no id yet) may still be retired, but not re-wrapped without naming its key.
    let mut su = PgConnection::connect_with(&d.app.db().superuser_options())
        .await
        .expect("superuser");
    sqlx::raw_sql(
        "SET session_replication_role = replica; UPDATE organization_keys SET kek_id = NULL; \
         SET session_replication_role = origin;",
    )
    .execute(&mut su)
    .await
    .expect("legacy rows");
    sqlx::query("UPDATE organization_keys SET retired_at = now() WHERE purpose = 'data'")
        .execute(&owner)
        .await
        .expect("retiring a legacy key is allowed");
    refused("UPDATE organization_keys SET wrapped_key = wrapped_key || '\\x00'::bytea").await;
}
