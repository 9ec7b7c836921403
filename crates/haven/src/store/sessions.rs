//! Login sessions: refresh-token families and their tokens.
//!
//! A family starts at login and is the `sid` of its access tokens. Each refresh rotates the
//! token: the presented one is consumed (marked rotated by one conditional statement, so of
//! concurrent presentations exactly one wins) and a new one is issued. Presenting a rotated
//! token again, concurrently or later, means it was stolen (or replayed): the whole family is
//! revoked.

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::db::TenantTx;
use crate::ids::UserId;

/// Why a family ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// The user logged out.
    Logout,
    /// A rotated token was presented again.
    Reuse,
    /// The password changed.
    PasswordChange,
    /// The account was disabled.
    Disabled,
    /// Unused for longer than the idle timeout.
    IdleTimeout,
    /// Older than the absolute lifetime.
    MaxLifetime,
    /// A refresh was proven by another DPoP key than the one the session is bound to.
    DpopKeyMismatch,
    /// Contained as part of a security incident.
    SecurityIncident,
}

impl RevokeReason {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Reuse => "reuse",
            Self::PasswordChange => "password_change",
            Self::Disabled => "disabled",
            Self::IdleTimeout => "idle_timeout",
            Self::MaxLifetime => "max_lifetime",
            Self::DpopKeyMismatch => "dpop_key_mismatch",
            Self::SecurityIncident => "security_incident",
        }
    }
}

/// Starts a family for `user` with its first token, bound to the DPoP key `jkt` when the login
/// proved one; returns the family id and the token's id.
pub async fn start_family(
    tx: &mut TenantTx,
    user: UserId,
    token_hash: &[u8; 32],
    jkt: Option<&str>,
) -> Result<(Uuid, Uuid), sqlx::Error> {
    let org = tx.organization_id();
    let family = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO refresh_families (organization_id, id, user_id, dpop_jkt) VALUES ($1, $2, $3, $4)",
    )
    .bind(org)
    .bind(family)
    .bind(user)
    .bind(jkt)
    .execute(tx.conn())
    .await?;
    let token = add_token(tx, family, token_hash).await?;
    Ok((family, token))
}

async fn add_token(
    tx: &mut TenantTx,
    family: Uuid,
    token_hash: &[u8; 32],
) -> Result<Uuid, sqlx::Error> {
    let org = tx.organization_id();
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO refresh_tokens (organization_id, id, family_id, token_hash) VALUES ($1, $2, $3, $4)",
    )
    .bind(org)
    .bind(id)
    .bind(family)
    .bind(token_hash.as_slice())
    .execute(tx.conn())
    .await?;
    Ok(id)
}

/// A refresh token this request consumed, and its family (locked for the transaction).
#[derive(Debug, FromRow)]
pub struct ConsumedToken {
    /// The family.
    pub family_id: Uuid,
    /// Its user.
    pub user_id: UserId,
    /// When the family was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the family started.
    pub family_created_at: DateTime<Utc>,
    /// When the family was last used.
    pub last_used_at: DateTime<Utc>,
    /// The DPoP key the family is bound to, if any.
    pub dpop_jkt: Option<String>,
}

/// Consumes token `token_id`: marks it rotated if, and only if, nobody has yet. One
/// conditional statement decides: of any number of concurrent presentations exactly one gets
/// `Some` (the others wait for its row lock, then see it rotated and get `None`, which is
/// reuse). The family row is locked too, so a concurrent logout or revocation is seen.
pub async fn consume(
    tx: &mut TenantTx,
    token_id: Uuid,
) -> Result<Option<ConsumedToken>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "WITH consumed AS ( \
             UPDATE refresh_tokens SET rotated_at = now() \
             WHERE organization_id = $1 AND id = $2 AND rotated_at IS NULL \
             RETURNING organization_id, family_id \
         ) \
         SELECT f.id AS family_id, f.user_id, f.revoked_at, \
                f.created_at AS family_created_at, f.last_used_at, f.dpop_jkt \
         FROM consumed c \
         JOIN refresh_families f ON f.organization_id = c.organization_id AND f.id = c.family_id \
         FOR UPDATE OF f",
    )
    .bind(org)
    .bind(token_id)
    .fetch_optional(tx.conn())
    .await
}

/// A presented refresh token that could not be consumed, and its family (locked).
#[derive(Debug, FromRow)]
pub struct PresentedToken {
    /// The family.
    pub family_id: Uuid,
    /// Its user.
    pub user_id: UserId,
    /// When this token was rotated (then presenting it is reuse).
    pub rotated_at: Option<DateTime<Utc>>,
    /// When the family was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the family started.
    pub family_created_at: DateTime<Utc>,
    /// When the family was last used.
    pub last_used_at: DateTime<Utc>,
}

/// Looks up token `token_id` (after [`consume`] refused it), locking its family.
pub async fn presented_token(
    tx: &mut TenantTx,
    token_id: Uuid,
) -> Result<Option<PresentedToken>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "SELECT f.id AS family_id, f.user_id, t.rotated_at, f.revoked_at, \
                f.created_at AS family_created_at, f.last_used_at \
         FROM refresh_tokens t \
         JOIN refresh_families f ON f.organization_id = t.organization_id AND f.id = t.family_id \
         WHERE t.organization_id = $1 AND t.id = $2 \
         FOR UPDATE OF f",
    )
    .bind(org)
    .bind(token_id)
    .fetch_optional(tx.conn())
    .await
}

/// Continues family `family` after one of its tokens was [consumed](consume): records the use
/// and adds the family's next token; returns the new token's id.
pub async fn rotate(
    tx: &mut TenantTx,
    family: Uuid,
    next_hash: &[u8; 32],
) -> Result<Uuid, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE refresh_families SET last_used_at = now() WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(family)
    .execute(tx.conn())
    .await?;
    add_token(tx, family, next_hash).await
}

/// Revokes one family (no-op when already revoked).
pub async fn revoke_family(
    tx: &mut TenantTx,
    family: Uuid,
    reason: RevokeReason,
) -> Result<bool, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE refresh_families SET revoked_at = now(), revoked_reason = $3 \
         WHERE organization_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(org)
    .bind(family)
    .bind(reason.as_str())
    .execute(tx.conn())
    .await
    .map(|r| r.rows_affected() > 0)
}

/// Revokes every live family of `user`, except `keep` (the caller's own session).
pub async fn revoke_user_families(
    tx: &mut TenantTx,
    user: UserId,
    keep: Option<Uuid>,
    reason: RevokeReason,
) -> Result<u64, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE refresh_families SET revoked_at = now(), revoked_reason = $4 \
         WHERE organization_id = $1 AND user_id = $2 AND revoked_at IS NULL \
           AND ($3::uuid IS NULL OR id <> $3)",
    )
    .bind(org)
    .bind(user)
    .bind(keep)
    .bind(reason.as_str())
    .execute(tx.conn())
    .await
    .map(|r| r.rows_affected())
}

/// Whether family `family` is live (for requests that must not outlive a logout).
pub async fn family_is_live(tx: &mut TenantTx, family: Uuid) -> Result<bool, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM refresh_families \
                        WHERE organization_id = $1 AND id = $2 AND revoked_at IS NULL)",
    )
    .bind(org)
    .bind(family)
    .fetch_one(tx.conn())
    .await
}

/// The sessions revoked within the last `window_seconds`, in every organization, through the
/// narrow SECURITY DEFINER look-up (ids only): what `auth::revocation` holds in memory. `pool`
/// is the runtime pool with no tenant set.
pub async fn recently_revoked(
    pool: &sqlx::PgPool,
    window_seconds: i32,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM haven_auth.recently_revoked_sessions($1)")
        .bind(window_seconds)
        .fetch_all(pool)
        .await
}
