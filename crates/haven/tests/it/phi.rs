//! PHI at rest (SPEC §5): per-field encryption under per-organization keys, bound to where the
//! value lives; race-safe key creation; blind indexes; online data-key rotation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use haven::crypto::MasterKey;
use haven::db::AppPool;
use haven::db::catalog::check_schema;
use haven::ids::OrganizationId;
use haven::phi::{
    DataKey, EncryptedColumn, FieldRef, Keyring, PhiError, decrypt_with, rotate_data_key,
};
use haven_testkit::{TestDb, random_master_key};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

const SCRATCH: EncryptedColumn = EncryptedColumn {
    table: "phi_scratch",
    column: "secret",
};

/// A table shaped like every PHI table: tenant key first, RLS forced, the two usual policies.
const SCRATCH_DDL: &str = "
    CREATE TABLE phi_scratch (
        organization_id uuid NOT NULL REFERENCES organizations (id),
        id uuid NOT NULL,
        secret bytea,
        PRIMARY KEY (organization_id, id)
    );
    ALTER TABLE phi_scratch ENABLE ROW LEVEL SECURITY;
    ALTER TABLE phi_scratch FORCE ROW LEVEL SECURITY;
    CREATE POLICY phi_scratch_tenant ON phi_scratch
        USING (organization_id = current_organization_id())
        WITH CHECK (organization_id = current_organization_id());
    CREATE POLICY phi_scratch_owner ON phi_scratch TO CURRENT_USER USING (true) WITH CHECK (true);
    GRANT SELECT, INSERT, UPDATE ON phi_scratch TO haven_app;";

struct Fixture {
    db: TestDb,
    pool: AppPool,
    master: MasterKey,
    keyring: Keyring,
    org: OrganizationId,
}

async fn fixture() -> Fixture {
    let db = TestDb::new().await;
    let org = db.create_organization("Practice A").await;
    let mut owner = owner(&db).await;
    sqlx::raw_sql(SCRATCH_DDL)
        .execute(&mut owner)
        .await
        .expect("scratch table");
    let master = random_master_key();
    Fixture {
        pool: AppPool::connect(db.app_options(), 20).await.expect("pool"),
        keyring: Keyring::new(&master),
        master,
        db,
        org,
    }
}

async fn owner(db: &TestDb) -> PgConnection {
    PgConnection::connect_with(&db.owner_options())
        .await
        .expect("owner connection")
}

fn field(org: OrganizationId, row: Uuid) -> FieldRef {
    FieldRef {
        organization_id: org,
        table: SCRATCH.table,
        column: SCRATCH.column,
        row,
    }
}

/// The organization's active data key (created on first use), in a transaction of its own.
async fn active_data_key(f: &Fixture) -> DataKey {
    let mut tx = f.pool.begin_tenant(f.org, None).await.expect("begin");
    let key = f.keyring.data_key(&mut tx).await.expect("data key");
    tx.commit().await.expect("commit");
    key
}

/// Encrypts `count` values into scratch rows with the current data key; returns (id, value).
async fn insert_rows(f: &Fixture, count: usize) -> Vec<(Uuid, String)> {
    let mut tx = f.pool.begin_tenant(f.org, None).await.expect("begin");
    let key = f.keyring.data_key(&mut tx).await.expect("data key");
    let mut rows = Vec::new();
    for i in 0..count {
        let (id, value) = (Uuid::now_v7(), format!("Patient Number {i}"));
        sqlx::query("INSERT INTO phi_scratch (organization_id, id, secret) VALUES ($1, $2, $3)")
            .bind(f.org)
            .bind(id)
            .bind(key.encrypt(&field(f.org, id), &value))
            .execute(tx.conn())
            .await
            .expect("insert");
        rows.push((id, value));
    }
    tx.commit().await.expect("commit");
    rows
}

/// Every scratch row of the organization: (id, decrypted value, key id in the blob).
async fn read_rows(
    pool: &AppPool,
    keyring: &Keyring,
    org: OrganizationId,
) -> Vec<(Uuid, String, Uuid)> {
    let mut tx = pool.begin_tenant(org, None).await.expect("begin");
    let rows: Vec<(Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT id, secret FROM phi_scratch ORDER BY id")
            .fetch_all(tx.conn())
            .await
            .expect("select");
    let mut out = Vec::new();
    for (id, blob) in rows {
        let plain = keyring
            .decrypt(&mut tx, &field(org, id), &blob)
            .await
            .expect("decrypts");
        let key_id = Uuid::from_slice(&blob[1..17]).expect("key id");
        out.push((id, plain.as_str().to_owned(), key_id));
    }
    tx.commit().await.expect("commit");
    out
}

async fn decrypt_in(
    f: &Fixture,
    org: OrganizationId,
    field: &FieldRef,
    blob: &[u8],
) -> Result<String, PhiError> {
    let mut tx = f.pool.begin_tenant(org, None).await.expect("begin");
    let result = f.keyring.decrypt(&mut tx, field, blob).await;
    tx.commit().await.expect("commit");
    result.map(|plain| plain.as_str().to_owned())
}

#[tokio::test]
async fn a_field_round_trips_and_its_blob_hides_the_plaintext() {
    let f = fixture().await;
    let key = active_data_key(&f).await;
    let here = field(f.org, Uuid::now_v7());

    let blob = key.encrypt(&here, "Margaret Hamilton");
    let again = key.encrypt(&here, "Margaret Hamilton");

    assert_eq!(
        decrypt_in(&f, f.org, &here, &blob).await.expect("opens"),
        "Margaret Hamilton"
    );
    assert!(
        !blob.windows(8).any(|w| w == b"Margaret"),
        "the plaintext shows in the blob"
    );
    assert_ne!(blob, again, "a fresh nonce each time");
    assert_eq!(blob[0], 1);
    assert_eq!(&blob[1..17], key.id().as_bytes());
}

#[tokio::test]
async fn a_ciphertext_moved_anywhere_else_does_not_decrypt() {
    let f = fixture().await;
    let org_b = f.db.create_organization("Practice B").await;
    let key = active_data_key(&f).await;
    let here = field(f.org, Uuid::now_v7());
    let blob = key.encrypt(&here, "1985-04-12");

    let elsewhere = [
        FieldRef {
            row: Uuid::now_v7(),
            ..here
        },
        FieldRef {
            column: "other_column",
            ..here
        },
        FieldRef {
            table: "other_table",
            ..here
        },
    ];
    for moved in &elsewhere {
        let result = decrypt_in(&f, f.org, moved, &blob).await;
        assert!(
            matches!(result, Err(PhiError::Decrypt)),
            "{moved:?}: {result:?}"
        );
    }
    // Into another tenant's row: its keyring has no such key, and even the right key refuses
    // another organization in the associated data.
    let in_b = FieldRef {
        organization_id: org_b,
        ..here
    };
    assert!(matches!(
        decrypt_in(&f, org_b, &in_b, &blob).await,
        Err(PhiError::UnknownKey)
    ));
    assert!(matches!(
        decrypt_with(&key, &in_b, &blob),
        Err(PhiError::Decrypt)
    ));
    assert!(matches!(
        decrypt_in(&f, org_b, &here, &blob).await,
        Err(PhiError::Decrypt)
    ));
    for at in [17, 20, blob.len() - 1] {
        let mut flipped = blob.clone();
        flipped[at] ^= 0x01;
        assert!(
            matches!(
                decrypt_in(&f, f.org, &here, &flipped).await,
                Err(PhiError::Decrypt)
            ),
            "byte {at}"
        );
    }
    // Under another master key, the stored key names the key it lacks (an operator's error to
    // fix, not a ciphertext to doubt); the caller still sees only a failure.
    let other_master = Keyring::new(random_master_key());
    let mut tx = f.pool.begin_tenant(f.org, None).await.expect("begin");
    let missing = f.master.kek_id();
    assert!(matches!(
        other_master.decrypt(&mut tx, &here, &blob).await,
        Err(PhiError::MasterKeyMissing(kek)) if kek == missing
    ));
    assert!(matches!(
        other_master.data_key(&mut tx).await,
        Err(PhiError::MasterKeyMissing(kek)) if kek == missing
    ));
}

#[tokio::test]
async fn racing_first_uses_create_one_key_per_purpose() {
    let f = Arc::new(fixture().await);

    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                let mut tx = f.pool.begin_tenant(f.org, None).await.expect("begin");
                let data = f.keyring.data_key(&mut tx).await.expect("data key").id();
                let blind = f.keyring.blind_key(&mut tx).await.expect("blind key");
                tx.commit().await.expect("commit");
                (data, blind.index("last_name", "smith"))
            })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.expect("task"));
    }

    assert!(
        seen.iter().all(|s| *s == seen[0]),
        "every task got the same keys"
    );
    let mut owner = owner(&f.db).await;
    let active: Vec<(String, i64)> = sqlx::query_as(
        "SELECT purpose, count(*) FROM organization_keys \
         WHERE organization_id = $1 AND retired_at IS NULL GROUP BY purpose ORDER BY purpose",
    )
    .bind(f.org)
    .fetch_all(&mut owner)
    .await
    .expect("count");
    assert_eq!(
        active,
        vec![("blind".to_owned(), 1), ("data".to_owned(), 1)]
    );
}

#[tokio::test]
async fn blind_indexes_match_normalized_values_within_one_organization_and_column() {
    let f = fixture().await;
    let org_b = f.db.create_organization("Practice B").await;
    let mut tx = f.pool.begin_tenant(f.org, None).await.expect("begin");
    let a = f.keyring.blind_key(&mut tx).await.expect("blind key");
    tx.commit().await.expect("commit");
    let mut tx = f.pool.begin_tenant(org_b, None).await.expect("begin");
    let b = f.keyring.blind_key(&mut tx).await.expect("blind key");
    tx.commit().await.expect("commit");

    assert_eq!(
        a.index("last_name", "  SMITH "),
        a.index("last_name", "smith")
    );
    assert_ne!(a.index("last_name", "smith"), b.index("last_name", "smith"));
    assert_ne!(
        a.index("last_name", "smith"),
        a.index("first_name", "smith")
    );
    assert_eq!(
        a.mrn_index("medical_record_number", "AB-12 34"),
        a.mrn_index("medical_record_number", "ab1234")
    );
    assert_ne!(
        a.mrn_index("medical_record_number", "AB-12 34"),
        a.mrn_index("medical_record_number", "ab1235")
    );
}

#[tokio::test]
async fn a_warm_read_uses_the_cached_key_without_unwrapping() {
    let f = fixture().await;
    let rows = insert_rows(&f, 1).await;
    let key_id = read_rows(&f.pool, &f.keyring, f.org).await[0].2;
    // The wrapped keys are garbage now: only a keyring that does not unwrap again still reads.
    let mut owner = owner(&f.db).await;
    sqlx::query("UPDATE organization_keys SET wrapped_key = '\\x00'")
        .execute(&mut owner)
        .await
        .expect("corrupt");

    let warm = read_rows(&f.pool, &f.keyring, f.org).await;
    let cold = Keyring::new(&f.master);
    let mut tx = f.pool.begin_tenant(f.org, None).await.expect("begin");
    let unwrapped = cold.key_by_id(&mut tx, key_id).await;

    assert_eq!(warm[0].1, rows[0].1);
    assert!(matches!(unwrapped, Err(PhiError::Decrypt)), "{unwrapped:?}");
}

#[tokio::test]
async fn rotation_reencrypts_every_row_and_old_ciphertexts_still_decrypt() {
    let f = fixture().await;
    let rows = insert_rows(&f, 23).await;
    let old_key = active_data_key(&f).await;

    let reencrypted = rotate_data_key(&f.pool, &f.keyring, f.org, 5, &[SCRATCH])
        .await
        .expect("rotates");

    assert_eq!(reencrypted, 23);
    let new_key = active_data_key(&f).await;
    assert_ne!(new_key.id(), old_key.id());
    // A cold keyring fetches the new key from the table, not from the rotation's cache.
    let after = read_rows(&f.pool, &Keyring::new(&f.master), f.org).await;
    let values: Vec<(Uuid, String)> = after.iter().map(|(id, v, _)| (*id, v.clone())).collect();
    assert_eq!(values, rows);
    assert!(after.iter().all(|(_, _, key)| *key == new_key.id()));
    let mut owner = owner(&f.db).await;
    let (retired, audited): (bool, bool) = sqlx::query_as(
        "SELECT (SELECT retired_at IS NOT NULL FROM organization_keys WHERE id = $1), \
                EXISTS (SELECT 1 FROM audit_outbox WHERE organization_id = $2 AND action = 'KEY_ROTATED')",
    )
    .bind(old_key.id())
    .bind(f.org)
    .fetch_one(&mut owner)
    .await
    .expect("state");
    assert!(retired && audited);

    // A slow writer that fetched the old key before the rotation commits after it.
    let late = Uuid::now_v7();
    let blob = old_key.encrypt(&field(f.org, late), "written late");
    let cold = Keyring::new(&f.master);
    let mut tx = f.pool.begin_tenant(f.org, None).await.expect("begin");
    let opened = cold
        .decrypt(&mut tx, &field(f.org, late), &blob)
        .await
        .expect("opens");
    tx.commit().await.expect("commit");
    assert_eq!(opened.as_str(), "written late");
    // ...and the next rotation moves it to the newest key.
    let mut tx = f.pool.begin_tenant(f.org, None).await.expect("begin");
    sqlx::query("INSERT INTO phi_scratch (organization_id, id, secret) VALUES ($1, $2, $3)")
        .bind(f.org)
        .bind(late)
        .bind(&blob)
        .execute(tx.conn())
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    assert_eq!(
        rotate_data_key(&f.pool, &f.keyring, f.org, 100, &[SCRATCH])
            .await
            .expect("rotates"),
        24
    );
}

#[tokio::test]
async fn reads_and_writes_during_rotations_never_fail() {
    let f = Arc::new(fixture().await);
    insert_rows(&f, 120).await;
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..4)
        .map(|i| {
            let (f, done) = (Arc::clone(&f), Arc::clone(&done));
            tokio::spawn(async move {
                let mut reads = 0;
                while !done.load(Ordering::Relaxed) || reads == 0 {
                    // Half the readers start cold each time, so they fetch retired and new keys
                    // from the table mid-rotation; the others share the rotation's cache.
                    let keyring = if i % 2 == 0 {
                        f.keyring.clone()
                    } else {
                        Keyring::new(&f.master)
                    };
                    // read_rows fails the test on any field that does not decrypt.
                    assert!(read_rows(&f.pool, &keyring, f.org).await.len() >= 120);
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let writer = {
        let (f, done) = (Arc::clone(&f), Arc::clone(&done));
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                insert_rows(&f, 2).await;
            }
        })
    };
    rotate_data_key(&f.pool, &f.keyring, f.org, 7, &[SCRATCH])
        .await
        .expect("rotates");
    // Two at once: they run one after the other, and the older walk yields to the newer.
    let (first, second) = tokio::join!(
        rotate_data_key(&f.pool, &f.keyring, f.org, 7, &[SCRATCH]),
        rotate_data_key(&f.pool, &f.keyring, f.org, 7, &[SCRATCH]),
    );
    first.expect("rotates");
    second.expect("rotates");
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        assert!(reader.await.expect("reader") > 0);
    }
    writer.await.expect("writer");

    // Quiet now: one more rotation leaves every row under the one active key.
    rotate_data_key(&f.pool, &f.keyring, f.org, 50, &[SCRATCH])
        .await
        .expect("rotates");
    let active = active_data_key(&f).await.id();
    let rows = read_rows(&f.pool, &Keyring::new(&f.master), f.org).await;
    assert!(rows.len() >= 120);
    assert!(rows.iter().all(|(_, _, key)| *key == active));
    let mut owner = owner(&f.db).await;
    let data_keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM organization_keys WHERE organization_id = $1 AND purpose = 'data'",
    )
    .bind(f.org)
    .fetch_one(&mut owner)
    .await
    .expect("count");
    assert_eq!(data_keys, 5, "the first key and four rotations, none lost");
}

#[tokio::test]
async fn the_key_table_keeps_the_tenancy_invariants() {
    let db = TestDb::new().await;
    let mut conn = owner(&db).await;

    let violations = check_schema(&mut conn, haven::db::APP_ROLE)
        .await
        .expect("check runs");

    assert!(violations.is_empty(), "{violations:#?}");
}
