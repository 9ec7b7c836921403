//! Look-ups that happen before the caller's organization is known. Each calls one narrow
//! SECURITY DEFINER function of the `haven_auth` schema that returns only what its step needs;
//! the app role cannot read the tables across tenants any other way.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::{Email, Role};
use crate::ids::{OrganizationId, UserId};

/// The pre-authentication functions, borrowed from an [`super::AppPool`].
#[derive(Debug, Clone, Copy)]
pub struct PreAuth<'a> {
    pool: &'a PgPool,
}

/// What the password step of a login needs to know about an account.
#[derive(Debug)]
pub struct LoginUser {
    /// The account.
    pub user_id: UserId,
    /// Its organization (the tenant for everything after login).
    pub organization_id: OrganizationId,
    /// Its role.
    pub role: Role,
    /// The PHC (or legacy bcrypt) hash to verify against.
    pub password_hash: String,
    /// Disabled accounts fail like a wrong password.
    pub disabled: bool,
}

#[derive(sqlx::FromRow)]
struct LoginUserRow {
    user_id: UserId,
    organization_id: OrganizationId,
    role: String,
    password_hash: String,
    disabled: bool,
}

impl<'a> PreAuth<'a> {
    pub(super) fn new(pool: &'a PgPool) -> Self {
        Self { pool }
    }

    /// The account with this email (case-insensitive), in whatever organization.
    pub async fn find_login_user(&self, email: &Email) -> Result<Option<LoginUser>, sqlx::Error> {
        let row: Option<LoginUserRow> = sqlx::query_as(
            "SELECT user_id, organization_id, role, password_hash, disabled \
             FROM haven_auth.find_login_user($1)",
        )
        .bind(email.as_str())
        .fetch_optional(self.pool)
        .await?;
        row.map(|row| {
            let role = row
                .role
                .parse::<Role>()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok(LoginUser {
                user_id: row.user_id,
                organization_id: row.organization_id,
                role,
                password_hash: row.password_hash,
                disabled: row.disabled,
            })
        })
        .transpose()
    }

    /// The refresh token with this SHA-256 hash: its organization, id and family.
    pub async fn find_refresh_token(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<(OrganizationId, Uuid, Uuid)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT organization_id, token_id, family_id FROM haven_auth.find_refresh_token($1)",
        )
        .bind(token_hash.as_slice())
        .fetch_optional(self.pool)
        .await
    }

    /// One page of all practices, oldest first, and the total (`None` when the page is empty).
    pub async fn list_organizations(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<(OrganizationId, String, DateTime<Utc>)>, Option<i64>), sqlx::Error> {
        let rows: Vec<(OrganizationId, String, DateTime<Utc>, i64)> = sqlx::query_as(
            "SELECT id, name, created_at, total FROM haven_auth.list_organizations($1, $2)",
        )
        .bind(i32::try_from(limit).unwrap_or(i32::MAX))
        .bind(i32::try_from(offset).unwrap_or(i32::MAX))
        .fetch_all(self.pool)
        .await?;
        let total = rows.first().map(|row| row.3);
        Ok((
            rows.into_iter()
                .map(|(id, name, created_at, _)| (id, name, created_at))
                .collect(),
            total,
        ))
    }
}
