//! JWT signing keys (SPEC §5): creation, storage, rotation, grace, and several instances on one
//! database.

use std::time::Duration;

use aws_lc_rs::rsa::KeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use haven::auth::keys::{KeyError, KeyStatus, KeyStore, RotationReason, list, rotate_if_due};
use haven::auth::token::{AccessClaims, Rejection};
use haven::config::AuthConfig;
use haven::crypto::AeadKey;
use haven::ids::OrganizationId;
use haven_testkit::TestDb;

use crate::fixtures::keys::{claims, loaded, master_key, private_key};

async fn backdate(db: &TestDb, column: &str, kid: &str, days: i32) {
    let statement = format!(
        "UPDATE signing_keys SET {column} = now() - make_interval(days => $2) WHERE kid = $1"
    );
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .bind(kid)
        .bind(days)
        .execute(&db.owner_pool().await)
        .await
        .expect("backdated");
}

#[tokio::test]
async fn eight_instances_loading_an_empty_database_at_once_create_exactly_one_key() {
    let db = TestDb::new().await;
    let pool = db.app_pool().await;
    let master = master_key();

    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (pool, master) = (pool.clone(), master.clone());
            tokio::spawn(
                async move { KeyStore::load(&pool, &master, &AuthConfig::development()).await },
            )
        })
        .collect();
    let mut kids = Vec::new();
    for task in tasks {
        kids.push(task.await.expect("joins").expect("loads").active_kid());
    }

    let keys = list(&pool, &AuthConfig::development()).await.expect("list");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0].status, KeyStatus::Active);
    assert!(kids.iter().all(|kid| *kid == keys[0].kid));
}

#[tokio::test]
async fn the_private_key_is_stored_sealed_and_opens_only_with_its_own_kid() {
    let (db, master, store) = loaded().await;
    let kid = store.active_kid();

    let (public_der, blob): (Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT public_key_der, private_key_encrypted FROM signing_keys WHERE kid = $1",
    )
    .bind(&kid)
    .fetch_one(&db.owner_pool().await)
    .await
    .expect("row");
    let pkcs8 = private_key(&db, &master, &kid).await;

    let pair = KeyPair::from_pkcs8(&pkcs8).expect("a PKCS#8 RSA key");
    assert_eq!(pair.public_modulus_len() * 8, 3072);
    assert!(
        !blob.windows(pkcs8.len()).any(|w| w == pkcs8.as_slice()),
        "the DER is not stored in the clear"
    );
    // The second half of the DER is private (exponent, primes): no 32-byte piece of it leaks.
    let private_half = &pkcs8[pkcs8.len() / 2..];
    for piece in private_half.chunks_exact(32) {
        assert!(
            !blob.windows(32).any(|w| w == piece),
            "private bytes in the clear"
        );
    }
    let aead = AeadKey::derive(&master, "signing-keys");
    assert!(aead.open(&blob, b"another-kid-entirely").is_err());
    assert!(
        AeadKey::derive(&master, "other-purpose")
            .open(&blob, kid.as_bytes())
            .is_err()
    );
    assert!(
        AeadKey::derive(&master_key(), "signing-keys")
            .open(&blob, kid.as_bytes())
            .is_err()
    );
    assert!(aws_lc_rs::rsa::PublicKey::from_der(&public_der).is_ok());
}

#[tokio::test]
async fn after_rotation_new_tokens_use_the_new_key_and_old_ones_still_verify() {
    let (db, _master, store) = loaded().await;
    let old_kid = store.active_kid();
    let old_token = store.issue(&claims()).expect("issues");
    let rotations_before = haven::auth::keys::rotations_total();

    let new_kid = store.rotate(RotationReason::Manual).await.expect("rotates");
    let new_token = store.issue(&claims()).expect("issues");

    assert_ne!(new_kid, old_kid);
    assert_eq!(store.active_kid(), new_kid);
    let header = jsonwebtoken::decode_header(&new_token).expect("header");
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    assert!(store.verify(&old_token).await.is_ok(), "old key in grace");
    assert!(store.verify(&new_token).await.is_ok());
    let published: Vec<String> = store.jwks().keys.into_iter().map(|k| k.kid).collect();
    assert_eq!(published, vec![new_kid.clone(), old_kid.clone()]);
    let keys = list(&db.app_pool().await, &AuthConfig::development())
        .await
        .expect("list");
    let statuses: Vec<_> = keys.iter().map(|k| (k.kid.clone(), k.status)).collect();
    assert_eq!(
        statuses,
        vec![(new_kid, KeyStatus::Active), (old_kid, KeyStatus::Grace)]
    );
    assert!(haven::auth::keys::rotations_total() > rotations_before);
}

#[tokio::test]
async fn a_key_retired_longer_ago_than_the_grace_period_is_neither_published_nor_accepted() {
    let (db, master, store) = loaded().await;
    let old_kid = store.active_kid();
    let old_token = store.issue(&claims()).expect("issues");
    // Verified once, so remembered: a token stops with its key even so.
    assert!(store.verify(&old_token).await.is_ok());
    store.rotate(RotationReason::Manual).await.expect("rotates");

    backdate(&db, "retired_at", &old_kid, 8).await;
    store.refresh().await.expect("refreshes");
    let fresh = KeyStore::load(&db.app_pool().await, &master, &AuthConfig::development())
        .await
        .expect("loads");

    for instance in [&store, &fresh] {
        assert!(instance.jwks().keys.iter().all(|k| k.kid != old_kid));
        let error = instance.verify(&old_token).await.expect_err("refused");
        assert_eq!(error.reason(), Rejection::UnknownKid);
    }
    let keys = list(&db.app_pool().await, &AuthConfig::development())
        .await
        .expect("list");
    assert_eq!(
        keys.iter().find(|k| k.kid == old_kid).map(|k| k.status),
        Some(KeyStatus::Expired)
    );
}

#[tokio::test]
async fn another_instance_verifies_a_token_of_a_key_rotated_elsewhere_at_once() {
    let (db, master, first) = loaded().await;
    let second = KeyStore::load(&db.app_pool().await, &master, &AuthConfig::development())
        .await
        .expect("second instance");

    let new_kid = first.rotate(RotationReason::Manual).await.expect("rotates");
    let token = first.issue(&claims()).expect("issues");

    let verified = second.verify(&token).await;
    assert!(verified.is_ok(), "{verified:?}");
    assert_eq!(second.active_kid(), new_kid);
}

#[tokio::test]
async fn refresh_makes_another_instance_sign_with_the_rotated_key() {
    let (db, master, first) = loaded().await;
    let second = KeyStore::load(&db.app_pool().await, &master, &AuthConfig::development())
        .await
        .expect("second instance");
    let new_kid = first.rotate(RotationReason::Manual).await.expect("rotates");
    assert_ne!(second.active_kid(), new_kid, "not seen before refreshing");

    second.refresh().await.expect("refreshes");

    let token = second.issue(&claims()).expect("issues");
    let header = jsonwebtoken::decode_header(&token).expect("header");
    assert_eq!(header.kid, Some(new_kid));
    assert!(first.verify(&token).await.is_ok());
}

#[tokio::test]
async fn the_refresher_picks_up_a_rotation_without_being_asked() {
    let (db, master, first) = loaded().await;
    let second = KeyStore::load(&db.app_pool().await, &master, &AuthConfig::development())
        .await
        .expect("second instance");
    let refresher = second.spawn_refresher(Duration::from_millis(100));

    let new_kid = first.rotate(RotationReason::Manual).await.expect("rotates");

    let mut seen = false;
    for _ in 0..100 {
        if second.active_kid() == new_kid {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    refresher.abort();
    assert!(seen, "the second instance never switched keys");
}

#[tokio::test]
async fn the_rotation_job_rotates_a_key_once_it_is_due() {
    let db = TestDb::new().await;
    let master = master_key();
    let config = AuthConfig {
        key_rotation_interval: Duration::from_secs(2),
        ..AuthConfig::development()
    };
    let store = KeyStore::load(&db.app_pool().await, &master, &config)
        .await
        .expect("loads");
    let first_kid = store.active_kid();
    let job = store.spawn_rotation_job(Duration::from_millis(200));

    let mut rotated = false;
    for _ in 0..150 {
        if store.active_kid() != first_kid {
            rotated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    job.abort();
    assert!(rotated, "the job never rotated the key");
}

#[tokio::test]
async fn a_scheduled_rotation_happens_only_when_the_key_is_old_enough() {
    let (db, master, store) = loaded().await;
    let pool = db.app_pool().await;
    let config = AuthConfig::development();
    let kid = store.active_kid();

    let early = rotate_if_due(&pool, &master, &config).await.expect("runs");
    backdate(&db, "created_at", &kid, 31).await;
    let due = rotate_if_due(&pool, &master, &config).await.expect("runs");
    let again = rotate_if_due(&pool, &master, &config).await.expect("runs");

    assert_eq!(early, None);
    assert!(due.is_some_and(|new| new != kid));
    assert_eq!(again, None, "the new key is not due");
}

#[tokio::test]
async fn rotation_is_audited_in_the_platform_organization_without_key_material() {
    let (db, _master, store) = loaded().await;
    let old_kid = store.active_kid();

    let new_kid = store.rotate(RotationReason::Manual).await.expect("rotates");

    let owner = db.owner_pool().await;
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_outbox WHERE action = 'KEY_ROTATED'")
            .fetch_one(&owner)
            .await
            .expect("count");
    assert_eq!(count, 2, "the first key's creation, then the rotation");
    let (org, method, details): (OrganizationId, String, serde_json::Value) = sqlx::query_as(
        "SELECT organization_id, access_method, details FROM audit_outbox \
         WHERE action = 'KEY_ROTATED' AND entity_type = 'signing_key' AND entity_id = $1",
    )
    .bind(&new_kid)
    .fetch_one(&owner)
    .await
    .expect("the rotation's event");
    assert_eq!(org, OrganizationId::PLATFORM);
    assert_eq!(method, "system");
    assert_eq!(
        details,
        serde_json::json!({
            "reason": "manual",
            "previousKid": old_kid,
            "algorithm": "RS256",
            "keyBits": 3072,
        })
    );
}

#[tokio::test]
async fn the_jwks_holds_only_public_parts_and_they_verify_issued_tokens() {
    let (_db, _master, store) = loaded().await;
    let token = store.issue(&claims()).expect("issues");

    let jwks = serde_json::to_value(store.jwks()).expect("serializes");

    let key = &jwks["keys"][0];
    let mut fields: Vec<&str> = key
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["e"], "AQAB");
    let n = key["n"].as_str().expect("n");
    assert_eq!(URL_SAFE_NO_PAD.decode(n).expect("base64url").len(), 384);
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(n, "AQAB").expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["haven-api"]);
    assert!(jsonwebtoken::decode::<AccessClaims>(&token, &decoding, &validation).is_ok());
}

#[tokio::test]
async fn a_store_refuses_to_load_with_the_wrong_master_key() {
    let (db, master, store) = loaded().await;

    let result = KeyStore::load(
        &db.app_pool().await,
        &master_key(),
        &AuthConfig::development(),
    )
    .await;

    assert!(
        matches!(&result, Err(KeyError::MasterKeyMissing { kid, kek })
            if *kid == store.active_kid() && *kek == master.kek_id()),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_public_key_swapped_in_the_table_is_never_trusted() {
    let (db, master, store) = loaded().await;
    let old_kid = store.active_kid();
    store.rotate(RotationReason::Manual).await.expect("rotates");
    let planted = KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa3072).expect("attacker key");
    let planted_der = aws_lc_rs::signature::KeyPair::public_key(&planted)
        .as_ref()
        .to_vec();
    let owner = db.owner_pool().await;

    // A retired key's public half replaced: that key is dropped, the others keep working.
    sqlx::query("UPDATE signing_keys SET public_key_der = $2 WHERE kid = $1")
        .bind(&old_kid)
        .bind(&planted_der)
        .execute(&owner)
        .await
        .expect("tampered");
    let fresh = KeyStore::load(&db.app_pool().await, &master, &AuthConfig::development())
        .await
        .expect("loads without the tampered key");
    assert!(fresh.jwks().keys.iter().all(|k| k.kid != old_kid));
    // The active key's public half replaced: refusing to start beats trusting it.
    sqlx::query("UPDATE signing_keys SET public_key_der = $1 WHERE retired_at IS NULL")
        .bind(&planted_der)
        .execute(&owner)
        .await
        .expect("tampered");
    let result = KeyStore::load(&db.app_pool().await, &master, &AuthConfig::development()).await;
    assert!(matches!(result, Err(KeyError::Corrupt(_))), "{result:?}");
}

#[tokio::test]
async fn a_remembered_token_still_expires_and_a_changed_byte_is_verified_afresh() {
    let (_db, _master, store) = loaded().await;
    let now = chrono::Utc::now().timestamp();
    // Expired 28 s ago: still within the 30 s leeway, for two seconds more.
    let mut nearly = claims();
    (nearly.iat, nearly.nbf, nearly.exp) = (now - 600, now - 600, now - 28);
    let token = store.issue(&nearly).expect("issues");
    assert_eq!(store.verify(&token).await.expect("valid").sub, nearly.sub);
    assert_eq!(
        store.verify(&token).await.expect("remembered").sub,
        nearly.sub
    );

    // One byte of the signature changed: another text, so verified, and refused.
    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    let error = store.verify(&forged).await.expect_err("refused");
    assert_eq!(error.reason(), Rejection::Signature);

    tokio::time::sleep(Duration::from_secs(3)).await;
    let error = store.verify(&token).await.expect_err("expired");
    assert_eq!(error.reason(), Rejection::Expired);
}
