//! The audit log's chain: gapless under concurrency, immutable for every role, and tampering
//! (an edited field, a deleted row, two rows swapped, a cut-off tail) detected.

use std::sync::Arc;

use haven::audit::seal::{CheckpointKey, Sealer};
use haven::audit::verify::{ChainReport, verify_chain, verify_chain_split};
use haven::audit::{AuditAction, AuditEvent, record};
use haven::db::AppPool;
use haven::domain::Role;
use haven::ids::{OrganizationId, UserId};
use haven_testkit::{TestDb, random_master_key};
use serde_json::json;
use sqlx::{Connection, PgConnection};

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

async fn record_events(pool: &AppPool, org: OrganizationId, count: usize) {
    let mut tx = pool.begin_tenant(org, None).await.expect("begin");
    for i in 0..count {
        let event = AuditEvent::new(AuditAction::PatientRead)
            .with_actor(UserId::new(), Role::Clinician)
            .with_entity("patient", i)
            .with_details(json!({ "n": i, "note": "a \"quoted\" value, with | and : in it" }));
        record(&mut tx, &event).await.expect("record");
    }
    tx.commit().await.expect("commit");
}

/// The chain's report, streamed in one statement; split into 2 to 5 parallel segments (of any
/// size) the verification must report exactly the same: the first break, the rows before it.
async fn verify(f: &Fixture) -> ChainReport {
    let mut tx = f.pool.begin_tenant(f.org, None).await.expect("begin");
    let report = verify_chain(&mut tx, &f.key).await.expect("verify");
    tx.commit().await.expect("commit");
    for segments in 2..=5 {
        let split = verify_chain_split(&f.pool, f.org, &f.key, segments, 1)
            .await
            .expect("verify in segments");
        assert_eq!(split, report, "{segments} segments");
    }
    report
}

async fn superuser(f: &Fixture) -> PgConnection {
    let mut conn = PgConnection::connect_with(&f.db.superuser_options())
        .await
        .expect("superuser");
    // Triggers off for this session only: what an attacker with superuser rights could do.
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
        .expect("replica");
    conn
}

async fn tamper(f: &Fixture, sql: &'static str) {
    let mut conn = superuser(f).await;
    sqlx::raw_sql(sql).execute(&mut conn).await.expect("tamper");
}

#[tokio::test]
async fn concurrent_writers_of_one_organization_get_a_gapless_chain() {
    let f = Arc::new(fixture().await);
    let writers: Vec<_> = (0..32)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move { record_events(&f.pool, f.org, 10).await })
        })
        .collect();
    // The sealer races the writers.
    let sealer = {
        let f = f.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                f.sealer.seal_batch(false, false).await.expect("seal");
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };
    for writer in writers {
        writer.await.expect("writer");
    }
    sealer.await.expect("sealer");
    f.sealer.flush().await.expect("flush");

    let owner = f.db.owner_pool().await;
    let (count, distinct, min, max, pending): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT sequence), min(sequence), max(sequence), \
                (SELECT count(*) FROM audit_outbox) FROM audit_log WHERE organization_id = $1",
    )
    .bind(f.org)
    .fetch_one(&owner)
    .await
    .expect("stats");
    assert_eq!((count, distinct, min, max, pending), (320, 320, 1, 320, 0));
    assert_eq!(
        verify(&f).await,
        ChainReport {
            valid: true,
            checked_entries: 320,
            first_broken_sequence: None
        }
    );
}

#[tokio::test]
async fn chains_of_different_organizations_are_independent() {
    let f = fixture().await;
    let other = f.db.create_organization("Practice B").await;
    record_events(&f.pool, f.org, 3).await;
    record_events(&f.pool, other, 5).await;
    f.sealer.flush().await.expect("flush");

    assert_eq!(verify(&f).await.checked_entries, 3);
    let mut tx = f.pool.begin_tenant(other, None).await.expect("begin");
    let report = verify_chain(&mut tx, &f.key).await.expect("verify");
    assert_eq!(report.checked_entries, 5);
}

#[tokio::test]
async fn nobody_can_change_sealed_rows_not_even_the_owner() {
    let f = fixture().await;
    record_events(&f.pool, f.org, 2).await;
    f.sealer.flush().await.expect("flush");
    let mut app = PgConnection::connect_with(&f.db.app_options())
        .await
        .expect("app");
    let mut owner = PgConnection::connect_with(&f.db.owner_options())
        .await
        .expect("owner");
    let partition: String = sqlx::query_scalar(
        "SELECT tableoid::regclass::text FROM audit_log WHERE sequence = 1 LIMIT 1",
    )
    .fetch_one(&mut owner)
    .await
    .expect("partition");

    for conn in [&mut app, &mut owner] {
        for statement in [
            "UPDATE audit_log SET outcome = 'denied'".to_owned(),
            "DELETE FROM audit_log".to_owned(),
            "TRUNCATE audit_log".to_owned(),
            format!("TRUNCATE {partition}"),
            format!("DELETE FROM {partition}"),
            "UPDATE audit_checkpoints SET sequence = 1".to_owned(),
            "DELETE FROM audit_checkpoints".to_owned(),
        ] {
            let mut tx = conn.begin().await.expect("begin");
            sqlx::query("SELECT set_config('app.current_organization_id', $1, true)")
                .bind(f.org.to_string())
                .execute(&mut *tx)
                .await
                .expect("tenant");
            let result = sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone()))
                .execute(&mut *tx)
                .await;
            let error = result.expect_err(&statement).to_string();
            assert!(
                error.contains("append-only") || error.contains("permission denied"),
                "{statement}: {error}"
            );
            tx.rollback().await.expect("rollback");
        }
    }
    assert!(verify(&f).await.valid);
}

#[tokio::test]
async fn an_edited_field_is_detected() {
    let f = fixture().await;
    record_events(&f.pool, f.org, 5).await;
    f.sealer.flush().await.expect("flush");

    tamper(
        &f,
        "UPDATE audit_log SET action = 'PATIENT_LIST' WHERE sequence = 3",
    )
    .await;

    let report = verify(&f).await;
    assert_eq!(
        (
            report.valid,
            report.first_broken_sequence,
            report.checked_entries
        ),
        (false, Some(3), 2)
    );
}

#[tokio::test]
async fn an_edited_detail_is_detected() {
    let f = fixture().await;
    record_events(&f.pool, f.org, 5).await;
    f.sealer.flush().await.expect("flush");

    tamper(
        &f,
        "UPDATE audit_log SET details = '{\"n\": 99}' WHERE sequence = 4",
    )
    .await;

    assert_eq!(verify(&f).await.first_broken_sequence, Some(4));
}

#[tokio::test]
async fn a_deleted_row_is_detected() {
    let f = fixture().await;
    record_events(&f.pool, f.org, 5).await;
    f.sealer.flush().await.expect("flush");

    tamper(&f, "DELETE FROM audit_log WHERE sequence = 2").await;

    assert_eq!(verify(&f).await.first_broken_sequence, Some(2));
}

#[tokio::test]
async fn a_rewritten_prev_hash_at_any_row_is_detected_wherever_segments_start() {
    for at in 1..=6 {
        let f = fixture().await;
        record_events(&f.pool, f.org, 6).await;
        f.sealer.flush().await.expect("flush");
        let mut conn = superuser(&f).await;
        sqlx::query(
            "UPDATE audit_log SET prev_hash = decode(repeat('ab', 32), 'hex') WHERE sequence = $1",
        )
        .bind(at)
        .execute(&mut conn)
        .await
        .expect("tamper");

        let report = verify(&f).await;
        assert_eq!(
            (report.first_broken_sequence, report.checked_entries),
            (Some(at), u64::try_from(at - 1).expect("small")),
            "prev_hash of {at}"
        );
    }
}

#[tokio::test]
async fn two_swapped_rows_are_detected() {
    let f = fixture().await;
    record_events(&f.pool, f.org, 5).await;
    f.sealer.flush().await.expect("flush");

    tamper(
        &f,
        "UPDATE audit_log SET sequence = 1000 WHERE sequence = 2;
         UPDATE audit_log SET sequence = 2 WHERE sequence = 3;
         UPDATE audit_log SET sequence = 3 WHERE sequence = 1000;",
    )
    .await;

    assert_eq!(verify(&f).await.first_broken_sequence, Some(2));
}

#[tokio::test]
async fn a_cut_off_tail_is_detected_by_the_signed_checkpoint() {
    let f = fixture().await;
    record_events(&f.pool, f.org, 6).await;
    f.sealer
        .flush()
        .await
        .expect("flush and checkpoint the head (sequence 6)");

    // Cut the last two entries, and fix up the chain head so nothing else looks off.
    tamper(
        &f,
        "DELETE FROM audit_log WHERE sequence > 4;
         UPDATE audit_chain_heads SET last_sequence = 4,
             last_hash = (SELECT hash FROM audit_log WHERE sequence = 4);",
    )
    .await;

    let report = verify(&f).await;
    assert_eq!(
        (
            report.valid,
            report.first_broken_sequence,
            report.checked_entries
        ),
        (false, Some(5), 4)
    );
}

#[tokio::test]
async fn a_forged_checkpoint_is_detected() {
    let f = fixture().await;
    record_events(&f.pool, f.org, 3).await;
    f.sealer.flush().await.expect("flush");

    tamper(
        &f,
        "UPDATE audit_checkpoints SET signature = decode(repeat('ab', 32), 'hex')",
    )
    .await;

    assert_eq!(verify(&f).await.first_broken_sequence, Some(3));
}

#[tokio::test]
async fn unsealed_events_survive_a_restart_and_are_sealed_later() {
    let f = fixture().await;
    record_events(&f.pool, f.org, 4).await;
    // A "new process": another sealer over a fresh pool.
    let later = Sealer::new(f.db.app_pool().await, &random_master_key());

    later.flush().await.expect("flush");

    let owner = f.db.owner_pool().await;
    let sealed: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&owner)
        .await
        .expect("count");
    assert_eq!(sealed, 4);
}

#[tokio::test]
async fn an_audited_action_fails_closed_when_its_audit_row_cannot_be_written() {
    let app = haven_testkit::TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    let mut su = PgConnection::connect_with(&app.db().superuser_options())
        .await
        .expect("superuser");
    sqlx::raw_sql("REVOKE INSERT ON audit_outbox FROM haven_app")
        .execute(&mut su)
        .await
        .expect("break the audit writer");

    let login = app
        .json(
            axum::http::Method::POST,
            "/api/auth/login",
            &json!({ "email": user.email, "password": haven_testkit::PASSWORD }),
        )
        .await;

    assert_eq!(login.status, axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    let body = login.json();
    assert_eq!(body["error"], "INTERNAL");
    assert!(body.get("token").is_none() && body["requestId"].is_string());
    // Nothing of the login survived: no new session was committed without its audit row.
    let owner = app.db().owner_pool().await;
    let sessions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM refresh_families WHERE user_id = $1")
            .bind(user.id)
            .fetch_one(&owner)
            .await
            .expect("count");
    assert_eq!(sessions, 1, "only the session from before");
}
