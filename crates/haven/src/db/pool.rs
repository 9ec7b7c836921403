//! The runtime connection pool, wrapped so that request code cannot query without a tenant.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::TenantTx;
use super::hosts::{self, Endpoints};
use super::preauth::PreAuth;
use crate::ids::{OrganizationId, UserId};

/// How long one statement of the runtime pool may run: a runaway statement or a forgotten open
/// transaction must not hold locks forever.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a statement may run in a transaction that asked for it with
/// [`TenantTx::allow_long_statements`]: the audit export and verification stream a whole chain
/// in one statement, for as long as the chain is long or the client slow. Still bounded, so a
/// client that stops reading without disconnecting gives its connection back eventually.
pub const LONG_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// A snapshot of the pool's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Of which idle.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

/// Runtime connections as the app role.
///
/// The pool inside is private: tenant data is reachable only through [`AppPool::begin_tenant`],
/// and the few look-ups that must happen before a tenant is known only through
/// [`AppPool::pre_auth`], which calls the narrow SECURITY DEFINER functions.
#[derive(Clone, Debug)]
pub struct AppPool(PgPool);

impl AppPool {
    /// Opens a pool of at most `max_connections`; fails fast when the database is unreachable.
    /// Statements time out after [`STATEMENT_TIMEOUT`].
    pub async fn connect(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> Result<Self, sqlx::Error> {
        Self::connect_endpoints(Endpoints::single(options), max_connections).await
    }

    /// [`AppPool::connect`] over the hosts of a URL: with several (or `target_session_attrs`),
    /// connections go to the primary only, and the pool follows it when it moves
    /// ([`super::hosts`]).
    pub async fn connect_endpoints(
        endpoints: Endpoints,
        max_connections: u32,
    ) -> Result<Self, sqlx::Error> {
        Self::open(endpoints, max_connections, STATEMENT_TIMEOUT).await
    }

    /// [`AppPool::connect`] with another `statement_timeout` (tests shorten it to show which
    /// work is, and is not, bound by it).
    pub async fn connect_with_statement_timeout(
        options: PgConnectOptions,
        max_connections: u32,
        statement_timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        Self::open(
            Endpoints::single(options),
            max_connections,
            statement_timeout,
        )
        .await
    }

    async fn open(
        endpoints: Endpoints,
        max_connections: u32,
        statement_timeout: Duration,
    ) -> Result<Self, sqlx::Error> {
        let statement_timeout = format!("{}ms", statement_timeout.as_millis().max(1));
        let endpoints = endpoints.map(|options| {
            options.application_name("haven").options([
                ("statement_timeout", statement_timeout.as_str()),
                ("idle_in_transaction_session_timeout", "60s"),
                // No statement of Haven's runs long enough for JIT compilation to pay: the
                // planner's estimate for the slot finder on a large calendar crossed
                // `jit_above_cost` and each search spent ~740 ms compiling (of 1.2 s).
                ("jit", "off"),
            ])
        });
        let pool_options = PgPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5));
        if !endpoints.read_write() {
            return Ok(Self(pool_options.connect_with(endpoints.first()).await?));
        }
        let start = endpoints.find().await.unwrap_or_else(|| endpoints.first());
        let pool = pool_options
            .after_connect(|conn, _| {
                Box::pin(async move {
                    if hosts::is_primary(conn).await? {
                        Ok(())
                    } else {
                        // Dropped; the pool retries (by then pointed at the new primary).
                        Err(sqlx::Error::Io(std::io::Error::other(
                            "the database server is a standby",
                        )))
                    }
                })
            })
            .connect_with(start)
            .await?;
        hosts::follow_primary(pool.clone(), endpoints);
        Ok(Self(pool))
    }

    /// Begins a transaction scoped to `organization_id` (and `user_id`, for auditing and
    /// policies that need it).
    pub async fn begin_tenant(
        &self,
        organization_id: OrganizationId,
        user_id: Option<UserId>,
    ) -> Result<TenantTx, sqlx::Error> {
        TenantTx::begin(&self.0, organization_id, user_id).await
    }

    /// A background job's transaction for `organization_id`, holding the transaction-level
    /// advisory lock (`job`, organization) — or `None` when another instance's run holds it, so
    /// one instance at a time does each organization's work and the others skip.
    pub async fn begin_exclusive(
        &self,
        organization_id: OrganizationId,
        job: &str,
    ) -> Result<Option<TenantTx>, sqlx::Error> {
        let mut tx = self.begin_tenant(organization_id, None).await?;
        let locked: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext($1), hashtext($2))")
                .bind(job)
                .bind(organization_id.to_string())
                .fetch_one(tx.conn())
                .await?;
        Ok(locked.then_some(tx))
    }

    /// The pre-authentication look-ups (login by email, ...).
    #[must_use]
    pub fn pre_auth(&self) -> PreAuth<'_> {
        PreAuth::new(&self.0)
    }

    /// The platform tables (signing keys), which belong to no tenant.
    #[must_use]
    pub fn platform(&self) -> super::platform::PlatformDb<'_> {
        super::platform::PlatformDb::new(&self.0)
    }

    /// How many connections the pool holds, idle, and at most.
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            size: self.0.size(),
            idle: u32::try_from(self.0.num_idle()).unwrap_or(u32::MAX),
            max: self.0.options().get_max_connections(),
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.0).await.map(drop)
    }

    /// The versions of the migrations applied successfully.
    pub async fn applied_migrations(&self) -> Result<HashSet<i64>, sqlx::Error> {
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.0)
                .await?;
        Ok(versions.into_iter().collect())
    }

    /// The WAL archiver's state (`pg_stat_archiver`), when the server archives: `None` with
    /// `archive_mode` off.
    pub async fn wal_archiver(&self) -> Result<Option<WalArchiver>, sqlx::Error> {
        let row: (bool, i64, bool, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query_as(
            "SELECT current_setting('archive_mode') <> 'off', failed_count, \
                    last_failed_time > coalesce(last_archived_time, '-infinity'), last_failed_time \
             FROM pg_stat_archiver",
        )
        .fetch_one(&self.0)
        .await?;
        let (on, failed_count, failing, last_failed_at) = row;
        Ok(on.then_some(WalArchiver {
            failed_count,
            failing: failing && last_failed_at.is_some(),
            last_failed_at,
        }))
    }

    /// Checks that the role this pool logs in as cannot bypass row-level security; see
    /// [`super::catalog::check_runtime_role`].
    pub async fn check_runtime_role(&self) -> Result<Vec<super::catalog::Violation>, sqlx::Error> {
        let mut conn = self.0.acquire().await?;
        super::catalog::check_runtime_role(&mut conn).await
    }

    /// Waits for checked-out connections to return, then closes them all.
    pub async fn close(&self) {
        self.0.close().await;
    }
}

/// The WAL archiver's state, from `pg_stat_archiver`.
#[derive(Debug, Clone, Copy)]
pub struct WalArchiver {
    /// Failed attempts since the statistics were reset.
    pub failed_count: i64,
    /// Whether the last attempt failed (no segment archived since): segments pile up in
    /// `pg_wal` and the recovery point falls behind.
    pub failing: bool,
    /// When the last attempt failed.
    pub last_failed_at: Option<chrono::DateTime<chrono::Utc>>,
}
