//! Access to the platform tables (see `catalog::PLATFORM_TABLES`): data that belongs to no
//! tenant, such as JWT signing keys. Tenant tables stay out of reach here too: with no tenant
//! set, row-level security shows them empty.

use sqlx::{PgPool, Postgres, Transaction};

/// The platform tables, borrowed from an [`super::AppPool`].
#[derive(Debug, Clone, Copy)]
pub struct PlatformDb<'a> {
    pool: &'a PgPool,
}

impl<'a> PlatformDb<'a> {
    pub(super) fn new(pool: &'a PgPool) -> Self {
        Self { pool }
    }

    /// A plain transaction, for statements on platform tables only.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// Users per password hash algorithm (`argon2id`, `bcrypt`, `other`), counted across every
    /// organization by a SECURITY DEFINER function that returns the counts only.
    pub async fn password_hash_algorithms(&self) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as("SELECT algorithm, users FROM haven_auth.password_hash_algorithms()")
            .fetch_all(self.pool)
            .await
    }

    /// Key rotations committed so far by any process (retired signing and PHI data keys),
    /// counted across every organization by a SECURITY DEFINER function that returns the count
    /// only.
    pub async fn key_rotations(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT haven_auth.key_rotations()")
            .fetch_one(self.pool)
            .await
    }

    /// The pool, for single statements on platform tables only.
    #[must_use]
    pub fn pool(&self) -> &'a PgPool {
        self.pool
    }
}
