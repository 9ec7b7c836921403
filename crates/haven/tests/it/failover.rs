//! Several database hosts (issue 24): the runtime pool connects only to the host that accepts
//! writes and follows it when it moves — the part of the failover drill
//! (`ha/failover-drill.sh`, pg_auto_failover) that needs no second server. Here a "standby" is a
//! database whose sessions are read-only by default, which is also what pg_auto_failover's
//! freshly promoted node is until the old primary is known demoted; a host that does not answer
//! is a socket directory that does not exist.

use std::time::{Duration, Instant};

use haven::db::AppPool;
use haven::db::hosts::Endpoints;
use haven::ids::OrganizationId;
use haven_testkit::TestDb;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// Makes `db` read-only (a standby) or writable (the primary) for new sessions, and ends the
/// sessions it has, as a failover ends the old primary's.
async fn set_standby(db: &TestDb, standby: bool) {
    let mut su = PgConnection::connect_with(&db.superuser_options())
        .await
        .expect("superuser");
    // The superuser's own session must write even where the database is read-only.
    sqlx::query("SET default_transaction_read_only = off")
        .execute(&mut su)
        .await
        .expect("SET");
    let value = if standby { "on" } else { "off" };
    sqlx::query(AssertSqlSafe(format!(
        "ALTER DATABASE \"{}\" SET default_transaction_read_only = {value}",
        db.name()
    )))
    .execute(&mut su)
    .await
    .expect("ALTER DATABASE");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(db.name())
    .execute(&mut su)
    .await
    .expect("ending the sessions");
    su.close().await.expect("close");
}

fn unreachable_host(db: &TestDb) -> PgConnectOptions {
    db.app_options().socket("/nonexistent/haven-failover-test")
}

/// The database a pooled connection serves from, and whether it accepts writes.
async fn serving(pool: &AppPool) -> Result<(String, bool), sqlx::Error> {
    let mut tx = pool.begin_tenant(OrganizationId::new(), None).await?;
    let row: (String, String) =
        sqlx::query_as("SELECT current_database()::text, current_setting('transaction_read_only')")
            .fetch_one(tx.conn())
            .await?;
    tx.rollback().await?;
    Ok((row.0, row.1 == "off"))
}

#[tokio::test]
async fn the_pool_connects_only_to_the_host_that_accepts_writes() {
    let (standby, primary) = (TestDb::new().await, TestDb::new().await);
    set_standby(&standby, true).await;
    let endpoints = Endpoints::of(
        vec![
            unreachable_host(&standby),
            standby.app_options(),
            primary.app_options(),
        ],
        true,
    )
    .expect("three hosts");
    let pool = AppPool::connect_endpoints(endpoints, 4)
        .await
        .expect("the pool finds the primary");

    // Four connections at once: every one of them on the primary.
    let answers = futures_util::future::join_all((0..4).map(|_| serving(&pool))).await;
    for answer in answers {
        assert_eq!(
            answer.expect("a query"),
            (primary.name().to_owned(), true),
            "a connection went to the standby or nowhere"
        );
    }
    pool.close().await;
}

#[tokio::test]
async fn the_pool_follows_the_primary_when_it_moves() {
    let (first, second) = (TestDb::new().await, TestDb::new().await);
    set_standby(&second, true).await;
    let endpoints =
        Endpoints::of(vec![first.app_options(), second.app_options()], true).expect("two hosts");
    let pool = AppPool::connect_endpoints(endpoints, 4)
        .await
        .expect("the pool");
    assert_eq!(
        serving(&pool).await.expect("query"),
        (first.name().to_owned(), true)
    );

    // Failover: the old primary goes read-only (its sessions end), then the standby is promoted.
    set_standby(&first, true).await;
    set_standby(&second, false).await;

    // Meanwhile queries fail or succeed, but never on a read-only host; within a bounded wait
    // the pool serves from the new primary by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failures = 0;
    loop {
        match serving(&pool).await {
            Ok((database, writable)) => {
                assert!(
                    writable,
                    "a pooled connection to a read-only host ({database})"
                );
                if database == second.name() {
                    break;
                }
            }
            Err(_) => failures += 1,
        }
        assert!(
            Instant::now() < deadline,
            "the pool did not move to the new primary in 30 s ({failures} failed queries)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And it stays there: every connection is the new primary's.
    let answers = futures_util::future::join_all((0..4).map(|_| serving(&pool))).await;
    for answer in answers {
        assert_eq!(answer.expect("a query"), (second.name().to_owned(), true));
    }
    pool.close().await;
}
