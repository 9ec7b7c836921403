//! Recorded but not yet sealed audit events (`audit_outbox`) cannot be removed by any role, the
//! owner included, whatever the session claims; only the sealer's move into the chained log
//! takes them out, and an event removed behind a forged copy in the log breaks verification.

use haven::audit::seal::{CheckpointKey, Sealer};
use haven::audit::verify::{ChainReport, verify_chain};
use haven::audit::{AuditAction, AuditEvent, record};
use haven::db::AppPool;
use haven::domain::Role;
use haven::ids::{OrganizationId, UserId};
use haven_testkit::{TestDb, random_master_key};
use serde_json::json;
use sqlx::{Connection, PgConnection};

/// The sealer's advisory lock (`audit::seal`), which an attacker can take too.
const SEALER_LOCK: i64 = 7_236_327_706_281_771_776;

struct Fixture {
    db: TestDb,
    pool: AppPool,
    sealer: Sealer,
    key: CheckpointKey,
    org: OrganizationId,
}

async fn fixture() -> Fixture {
    let db = TestDb::new().await;
    let org = db.create_organization("Practice A").await;
    let pool = db.app_pool().await;
    let master = random_master_key();
    Fixture {
        sealer: Sealer::new(pool.clone(), &master),
        key: CheckpointKey::new(&master),
        db,
        pool,
        org,
    }
}

async fn record_events(f: &Fixture, count: usize) {
    let mut tx = f.pool.begin_tenant(f.org, None).await.expect("begin");
    for i in 0..count {
        let event = AuditEvent::new(AuditAction::PatientRead)
            .with_actor(UserId::new(), Role::Clinician)
            .with_entity("patient", i)
            .with_details(json!({ "n": i }));
        record(&mut tx, &event).await.expect("record");
    }
    tx.commit().await.expect("commit");
}

async fn count(f: &Fixture, table: &str) -> i64 {
    let owner = f.db.owner_pool().await;
    let sql = format!("SELECT count(*) FROM {table} WHERE organization_id = $1");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(f.org)
        .fetch_one(&owner)
        .await
        .expect("count")
}

async fn verify(f: &Fixture) -> ChainReport {
    let mut tx = f.pool.begin_tenant(f.org, None).await.expect("begin");
    let report = verify_chain(&mut tx, &f.key).await.expect("verify");
    tx.commit().await.expect("commit");
    report
}

async fn owner(f: &Fixture) -> PgConnection {
    PgConnection::connect_with(&f.db.owner_options())
        .await
        .expect("owner")
}

/// Runs `setup` then `attack` in one transaction on `conn` (tenant set, so row-level security
/// shows the rows) and returns the error, rolling back.
async fn refused(
    conn: &mut PgConnection,
    org: OrganizationId,
    setup: &str,
    attack: &str,
) -> String {
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("SELECT set_config('app.current_organization_id', $1, true)")
        .bind(org.to_string())
        .execute(&mut *tx)
        .await
        .expect("tenant");
    if !setup.is_empty() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(setup.to_owned()))
            .execute(&mut *tx)
            .await
            .expect(setup);
    }
    let result = sqlx::raw_sql(sqlx::AssertSqlSafe(attack.to_owned()))
        .execute(&mut *tx)
        .await;
    tx.rollback().await.expect("rollback");
    match result {
        Ok(done) => panic!("{setup} {attack}: allowed, {} rows", done.rows_affected()),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn nobody_can_delete_or_truncate_an_unsealed_event_not_even_the_owner() {
    let f = fixture().await;
    record_events(&f, 3).await;
    let mut app = PgConnection::connect_with(&f.db.app_options())
        .await
        .expect("app");
    let mut owner = owner(&f).await;
    let one: uuid::Uuid = sqlx::query_scalar("SELECT id FROM audit_outbox LIMIT 1")
        .fetch_one(&mut owner)
        .await
        .expect("an event");
    let attacks = [
        "DELETE FROM audit_outbox".to_owned(),
        format!("DELETE FROM audit_outbox WHERE id = '{one}'"),
        "TRUNCATE audit_outbox".to_owned(),
    ];

    for attack in &attacks {
        let error = refused(&mut app, f.org, "", attack).await;
        assert!(
            error.contains("permission denied"),
            "app: {attack}: {error}"
        );
        let error = refused(&mut owner, f.org, "", attack).await;
        assert!(
            error.contains("only once sealed") || error.contains("append-only"),
            "owner: {attack}: {error}"
        );
    }

    assert_eq!(
        count(&f, "audit_outbox").await,
        3,
        "every event is still there"
    );
    f.sealer.flush().await.expect("the sealer still moves them");
    assert_eq!(count(&f, "audit_outbox").await, 0);
    assert_eq!(count(&f, "audit_log").await, 3);
    let report = verify(&f).await;
    assert!(report.valid);
    assert_eq!(report.checked_entries, 3);
}

#[tokio::test]
async fn session_settings_and_the_sealer_lock_do_not_let_the_owner_delete() {
    let f = fixture().await;
    record_events(&f, 2).await;
    let mut owner = owner(&f).await;

    for setup in [
        "SELECT set_config('haven.sealing', 'on', true), set_config('app.sealing', 'on', true), \
                set_config('haven_audit.sealing', 'true', true), set_config('app.sealer', '1', true)"
            .to_owned(),
        format!("SELECT pg_advisory_xact_lock({SEALER_LOCK})"),
    ] {
        let error = refused(&mut owner, f.org, &setup, "DELETE FROM audit_outbox").await;
        assert!(error.contains("only once sealed"), "{setup}: {error}");
    }
    // Turning triggers off takes a superuser.
    let error = refused(
        &mut owner,
        f.org,
        "",
        "SET LOCAL session_replication_role = replica; DELETE FROM audit_outbox",
    )
    .await;
    assert!(error.contains("permission denied"), "{error}");

    assert_eq!(count(&f, "audit_outbox").await, 2);
}

#[tokio::test]
async fn a_forged_log_row_with_other_content_does_not_release_the_event() {
    let f = fixture().await;
    record_events(&f, 1).await;
    let mut owner = owner(&f).await;
    // A "sealed copy" that says something else than the event: its id, another action.
    let forge = "INSERT INTO audit_log (organization_id, sequence, occurred_at, id, user_id, role, \
                     action, entity_type, entity_id, patient_id, access_method, outcome, ip, \
                     user_agent, request_id, details, prev_hash, hash) \
                 SELECT organization_id, 1, occurred_at, id, user_id, role, 'LOGIN_SUCCESS', \
                     entity_type, entity_id, patient_id, access_method, outcome, ip, user_agent, \
                     request_id, details, decode(repeat('00', 32), 'hex'), \
                     decode(repeat('00', 32), 'hex') \
                 FROM audit_outbox";

    let error = refused(&mut owner, f.org, forge, "DELETE FROM audit_outbox").await;

    assert!(error.contains("only once sealed"), "{error}");
    assert_eq!(count(&f, "audit_outbox").await, 1);
}

#[tokio::test]
async fn an_event_removed_behind_a_forged_exact_copy_breaks_verification() {
    let f = fixture().await;
    record_events(&f, 2).await;
    f.sealer.flush().await.expect("flush");
    record_events(&f, 1).await;
    let mut owner = owner(&f).await;

    // The owner copies the pending event into the log itself, unchained, and removes it from the
    // outbox: the copy is identical, so the removal is allowed, and the chain shows it.
    let mut tx = owner.begin().await.expect("begin");
    sqlx::raw_sql(
        "INSERT INTO audit_log (organization_id, sequence, occurred_at, id, user_id, role, \
             action, entity_type, entity_id, patient_id, access_method, outcome, ip, user_agent, \
             request_id, details, prev_hash, hash) \
         SELECT organization_id, 3, occurred_at, id, user_id, role, action, entity_type, \
             entity_id, patient_id, access_method, outcome, ip, user_agent, request_id, details, \
             decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex') \
         FROM audit_outbox; \
         DELETE FROM audit_outbox;",
    )
    .execute(&mut *tx)
    .await
    .expect("an exact copy releases the event");
    tx.commit().await.expect("commit");

    assert_eq!(count(&f, "audit_outbox").await, 0);
    let report = verify(&f).await;
    assert!(!report.valid);
    assert_eq!(report.first_broken_sequence, Some(3));
}
