//! Direct access to a started Haven's embedded cluster (`--start`), for what the API cannot do
//! or should not be asked to: a million audit events in one statement, the rows pgbench works
//! on, the outbox backlog. The cluster listens only on its socket in `<data dir>/run`; local
//! connections are trusted, so the roles need no password.
//!
//! - the owner role (`haven_owner`) owns the tables; their owner policies let it see and write
//!   every organization's rows, so it seeds and counts;
//! - the app role (`haven_app`) is what Haven serves requests as: no BYPASSRLS, so pgbench and the
//!   audit writers run under row-level security exactly as Haven does.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use haven::db::{APP_ROLE, DATABASE_NAME, OWNER_ROLE};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use crate::server::HavenProcess;

/// The embedded cluster's port: with no TCP listener it only names the socket file.
pub const PORT: u16 = 5432;

/// The socket directory of the cluster under `data_dir`.
#[must_use]
pub fn socket_dir(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("run")
}

/// Options for `role` on Haven's database over the cluster's socket.
#[must_use]
pub fn options(data_dir: &Path, role: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .socket(socket_dir(data_dir))
        .port(PORT)
        .username(role)
        .database(DATABASE_NAME)
        .application_name("haven-bench")
}

/// Options for the app role (what Haven serves requests as).
#[must_use]
pub fn app_options(server: &HavenProcess) -> PgConnectOptions {
    options(&server.data_dir(), APP_ROLE)
}

/// One connection as the owner role.
pub async fn owner(server: &HavenProcess) -> anyhow::Result<PgConnection> {
    PgConnection::connect_with(&options(&server.data_dir(), OWNER_ROLE))
        .await
        .context("connecting to the embedded cluster as the owner role")
}

/// Creates `count` organizations directly (no ADMIN, no keys: enough to own audit events), named
/// after `label`; their ids.
pub async fn organizations(
    conn: &mut PgConnection,
    label: &str,
    count: u32,
) -> anyhow::Result<Vec<Uuid>> {
    let ids: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO organizations (id, name) \
         SELECT id, $2 || ' ' || n FROM unnest($1::uuid[]) WITH ORDINALITY AS o(id, n)",
    )
    .bind(&ids)
    .bind(label)
    .execute(&mut *conn)
    .await
    .context("inserting the organizations")?;
    Ok(ids)
}

/// `ANALYZE table`: fresh planner statistics after seeding. Right after a bulk of inserts the
/// table has none until autovacuum gets to it (up to a minute later), and without them PostgreSQL
/// may plan a lookup by primary key as a scan of the organization's rows through another index;
/// a benchmark should measure the steady state, not that window.
pub async fn analyze(server: &HavenProcess, table: &str) -> anyhow::Result<()> {
    let mut conn = owner(server).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE {table}")))
        .execute(&mut conn)
        .await
        .with_context(|| format!("analyzing {table}"))?;
    conn.close().await?;
    Ok(())
}

/// Events waiting in the outbox (every organization's), i.e. not sealed yet.
pub async fn outbox_backlog(conn: &mut PgConnection) -> anyhow::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM audit_outbox")
        .fetch_one(&mut *conn)
        .await
        .context("counting the audit outbox")
}

/// Waits until the server's sealer has emptied the outbox (polling every `every`); how long it
/// took. Fails after `timeout`.
pub async fn wait_for_empty_outbox(
    conn: &mut PgConnection,
    every: Duration,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let backlog = outbox_backlog(conn).await?;
        if backlog == 0 {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "the sealer left {backlog} events in the outbox after {timeout:?}"
        );
        tokio::time::sleep(every).await;
    }
}
