//! Users of an organization.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

use crate::db::TenantTx;
use crate::domain::Role;
use crate::ids::{OrganizationId, UserId};
use crate::policy::users::ManageUsers;

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user.
    pub id: UserId,
    /// Login, unique across the platform.
    pub email: String,
    /// What they may do.
    pub role: Role,
    /// Their organization.
    pub organization_id: OrganizationId,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Whether a second factor is enrolled.
    pub mfa_enabled: bool,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct UserRow {
    id: UserId,
    email: String,
    role: String,
    organization_id: OrganizationId,
    first_name: String,
    last_name: String,
    mfa_enabled: bool,
    disabled: bool,
    created_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = sqlx::Error;

    fn try_from(row: UserRow) -> Result<Self, sqlx::Error> {
        Ok(User {
            id: row.id,
            role: row
                .role
                .parse()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            email: row.email,
            organization_id: row.organization_id,
            first_name: row.first_name,
            last_name: row.last_name,
            mfa_enabled: row.mfa_enabled,
            disabled: row.disabled,
            created_at: row.created_at,
        })
    }
}

const COLUMNS: &str =
    "id, email, role, organization_id, first_name, last_name, mfa_enabled, disabled, created_at";

/// A user to create.
#[derive(Debug)]
pub struct NewUser<'a> {
    /// Login.
    pub email: &'a str,
    /// PHC string.
    pub password_hash: &'a str,
    /// Role.
    pub role: Role,
    /// Given name.
    pub first_name: &'a str,
    /// Family name.
    pub last_name: &'a str,
}

/// Inserts a user into the transaction's organization. A duplicate email fails with the unique
/// violation of `users_email_unique`.
pub async fn insert(
    tx: &mut TenantTx,
    _may: &ManageUsers,
    new: &NewUser<'_>,
) -> Result<User, sqlx::Error> {
    let org = tx.organization_id();
    let row: UserRow = sqlx::query_as(
        "INSERT INTO users (organization_id, id, email, password_hash, role, first_name, last_name) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING id, email, role, organization_id, first_name, last_name, mfa_enabled, disabled, created_at",
    )
    .bind(org)
    .bind(UserId::new())
    .bind(new.email)
    .bind(new.password_hash)
    .bind(new.role.as_str())
    .bind(new.first_name)
    .bind(new.last_name)
    .fetch_one(tx.conn())
    .await?;
    row.try_into()
}

/// Whether `user` of the transaction's organization is held back by the organization's MFA
/// requirement for administrators (it requires MFA and they have none); `true` for a user not
/// found, so that the gate fails closed.
pub async fn held_back_by_mfa(tx: &mut TenantTx, user: UserId) -> Result<bool, sqlx::Error> {
    let organization = tx.organization_id();
    let blocked: Option<bool> = sqlx::query_scalar(
        "SELECT o.require_mfa_for_admins AND NOT u.mfa_enabled \
         FROM users u JOIN organizations o ON o.id = u.organization_id \
         WHERE u.organization_id = $1 AND u.id = $2",
    )
    .bind(organization)
    .bind(user)
    .fetch_optional(tx.conn())
    .await?;
    Ok(blocked.unwrap_or(true))
}

/// The user `id` of the transaction's organization.
pub async fn find(tx: &mut TenantTx, id: UserId) -> Result<Option<User>, sqlx::Error> {
    let org = tx.organization_id();
    let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM users WHERE organization_id = $1 AND id = $2"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    row.map(User::try_from).transpose()
}

/// One page of the organization's users, oldest first, and the total count.
pub async fn list(
    tx: &mut TenantTx,
    limit: i64,
    offset: i64,
) -> Result<(Vec<User>, i64), sqlx::Error> {
    let org = tx.organization_id();
    let rows = sqlx::query(sqlx::AssertSqlSafe(super::page_query(
        COLUMNS,
        "FROM users WHERE organization_id = $1",
        "created_at, id",
        2,
    )))
    .bind(org)
    .bind(limit)
    .bind(offset)
    .fetch_all(tx.conn())
    .await?;
    let (rows, total) = super::read_page::<UserRow>(&rows)?;
    let users = rows
        .into_iter()
        .map(User::try_from)
        .collect::<Result<_, _>>()?;
    Ok((users, total))
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChanges<'a> {
    /// New role.
    pub role: Option<Role>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// New given name.
    pub first_name: Option<&'a str>,
    /// New family name.
    pub last_name: Option<&'a str>,
}

/// Applies `changes` to user `id`; `None` when there is no such user in this organization.
pub async fn update(
    tx: &mut TenantTx,
    _may: &ManageUsers,
    id: UserId,
    changes: &UserChanges<'_>,
) -> Result<Option<User>, sqlx::Error> {
    let org = tx.organization_id();
    let row: Option<UserRow> = sqlx::query_as(
        "UPDATE users SET \
             role = coalesce($3, role), \
             disabled = coalesce($4, disabled), \
             first_name = coalesce($5, first_name), \
             last_name = coalesce($6, last_name), \
             updated_at = now() \
         WHERE organization_id = $1 AND id = $2 \
         RETURNING id, email, role, organization_id, first_name, last_name, mfa_enabled, disabled, created_at",
    )
    .bind(org)
    .bind(id)
    .bind(changes.role.map(Role::as_str))
    .bind(changes.disabled)
    .bind(changes.first_name)
    .bind(changes.last_name)
    .fetch_optional(tx.conn())
    .await?;
    row.map(User::try_from).transpose()
}

/// Ends every access token user `id` holds: those issued before now are refused from here on
/// (on every instance, within a second: see `auth::revocation`). Run in the transaction of the
/// change that calls for it (the account disabled, its role changed).
pub async fn end_access_tokens(tx: &mut TenantTx, id: UserId) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    // The clock at this statement, not at the transaction's start: a token issued meanwhile by
    // a refresh (which read the account before this change) is older than this.
    sqlx::query(
        "UPDATE users SET tokens_valid_after = clock_timestamp() \
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(id)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// A user whose access tokens were ended recently, as `auth::revocation` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEpoch {
    /// The user.
    pub user_id: UserId,
    /// Their access tokens issued before this are refused.
    pub tokens_valid_after: DateTime<Utc>,
    /// Their role now: a token naming another one is refused.
    pub role: Role,
    /// Whether the account is disabled now: then every token is refused.
    pub disabled: bool,
}

/// The users whose access tokens were ended within the last `window_seconds`, in every
/// organization, through the narrow SECURITY DEFINER look-up. `pool` is the runtime pool with
/// no tenant set.
pub async fn recent_token_epochs(
    pool: &sqlx::PgPool,
    window_seconds: i32,
) -> Result<Vec<TokenEpoch>, sqlx::Error> {
    let rows: Vec<(UserId, DateTime<Utc>, String, bool)> = sqlx::query_as(
        "SELECT user_id, tokens_valid_after, role, disabled \
         FROM haven_auth.recent_token_epochs($1)",
    )
    .bind(window_seconds)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(user_id, tokens_valid_after, role, disabled)| {
            Ok(TokenEpoch {
                user_id,
                tokens_valid_after,
                role: role.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                disabled,
            })
        })
        .collect()
}

/// What the login and password steps need about an account, locked for the transaction.
#[derive(Debug, FromRow)]
pub struct Credentials {
    /// Stored hash (PHC or legacy bcrypt).
    pub password_hash: String,
    /// Disabled accounts fail like a wrong password.
    pub disabled: bool,
    /// TOTP enrolled.
    pub mfa_enabled: bool,
    /// Sealed TOTP secret.
    pub mfa_secret: Option<Vec<u8>>,
    /// Sealed secret awaiting confirmation.
    pub mfa_pending_secret: Option<Vec<u8>>,
    /// Last TOTP step accepted.
    pub mfa_last_step: Option<i64>,
}

/// The credentials of user `id`, row-locked until the transaction ends.
pub async fn credentials_for_update(
    tx: &mut TenantTx,
    id: UserId,
) -> Result<Option<Credentials>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "SELECT password_hash, disabled, mfa_enabled, mfa_secret, mfa_pending_secret, mfa_last_step \
         FROM users WHERE organization_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// Counts one login attempt against user `id` before its password is checked, locking the
/// account for 15 minutes at the fifth consecutive failure. Returns the attempt's number, or
/// `None` when the account is locked (the attempt is not evaluated). Atomic: concurrent
/// attempts each get their own number, so parallel guesses cannot slip past the lock.
pub async fn reserve_login_attempt(
    tx: &mut TenantTx,
    id: UserId,
) -> Result<Option<i32>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar(
        "UPDATE users SET failed_logins = failed_logins + 1, \
             locked_until = CASE WHEN failed_logins + 1 >= 5 \
                                 THEN now() + interval '15 minutes' ELSE locked_until END \
         WHERE organization_id = $1 AND id = $2 \
           AND (locked_until IS NULL OR locked_until <= now()) \
         RETURNING failed_logins",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// Gives back an attempt that did not count (right password, MFA code still to come).
pub async fn release_login_attempt(tx: &mut TenantTx, id: UserId) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE users SET failed_logins = greatest(failed_logins - 1, 0), \
             locked_until = CASE WHEN failed_logins - 1 < 5 THEN NULL ELSE locked_until END \
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(id)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// A successful login: the failure count and any lock are cleared.
pub async fn record_login_success(tx: &mut TenantTx, id: UserId) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(id)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// Replaces the password hash (a change, or a rehash to current parameters).
pub async fn set_password_hash(
    tx: &mut TenantTx,
    id: UserId,
    hash: &str,
    changed: bool,
) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE users SET password_hash = $3, \
             password_changed_at = CASE WHEN $4 THEN now() ELSE password_changed_at END, \
             updated_at = now() \
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(id)
    .bind(hash)
    .bind(changed)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// The organization that holds user `id`, whichever it is (to audit cross-tenant attempts).
pub async fn organization_of(
    tx: &mut TenantTx,
    id: UserId,
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.user_organization($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}
