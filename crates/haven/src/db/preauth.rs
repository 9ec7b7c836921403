//! Look-ups that happen before the caller's organization is known. Each calls one narrow
//! SECURITY DEFINER function of the `haven_auth` schema that returns only what its step needs;
//! the app role cannot read the tables across tenants any other way.

use sqlx::PgPool;

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
}
