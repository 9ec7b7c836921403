//! Tenant transactions: the only way request code reaches tenant data.

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::ids::{OrganizationId, UserId};

/// A transaction in which `app.current_organization_id` (and `app.current_user_id`) are set with
/// `set_config(.., true)`: they end with the transaction, so the pooled connection carries
/// nothing to its next user, and row-level security confines every statement to this tenant.
///
/// Data-access functions take `&mut TenantTx`, never a pool, so a tenant query cannot be written
/// without a tenant. They still filter by [`TenantTx::organization_id`] themselves: RLS is the
/// second line of defense, not the first.
///
/// Dropping it without [`TenantTx::commit`] rolls back.
#[derive(Debug)]
pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    organization_id: OrganizationId,
    user_id: Option<UserId>,
}

impl TenantTx {
    pub(super) async fn begin(
        pool: &PgPool,
        organization_id: OrganizationId,
        user_id: Option<UserId>,
    ) -> Result<Self, sqlx::Error> {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "SELECT set_config('app.current_organization_id', $1, true), \
                    set_config('app.current_user_id', $2, true)",
        )
        .bind(organization_id.to_string())
        .bind(user_id.map(|id| id.to_string()).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        Ok(Self {
            tx,
            organization_id,
            user_id,
        })
    }

    /// The tenant this transaction is confined to.
    #[must_use]
    pub fn organization_id(&self) -> OrganizationId {
        self.organization_id
    }

    /// The acting user, when there is one.
    #[must_use]
    pub fn user_id(&self) -> Option<UserId> {
        self.user_id
    }

    /// The connection, for running statements.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Lets the statements of this transaction run up to [`super::LONG_STATEMENT_TIMEOUT`]
    /// instead of the pool's `statement_timeout` (for streams as long as the audit chain; the
    /// setting ends with the transaction, so the pooled connection returns with the short one).
    pub async fn allow_long_statements(&mut self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT set_config('statement_timeout', $1, true)")
            .bind(format!("{}ms", super::LONG_STATEMENT_TIMEOUT.as_millis()))
            .execute(&mut *self.tx)
            .await
            .map(drop)
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Rolls back explicitly (dropping does the same, lazily).
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}
