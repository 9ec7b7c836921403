//! MFA enrolment state and backup codes.

use crate::db::TenantTx;
use crate::ids::UserId;

/// Stores a sealed secret awaiting confirmation.
pub async fn set_pending_secret(
    tx: &mut TenantTx,
    user: UserId,
    sealed: &[u8],
) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query("UPDATE users SET mfa_pending_secret = $3 WHERE organization_id = $1 AND id = $2")
        .bind(org)
        .bind(user)
        .bind(sealed)
        .execute(tx.conn())
        .await
        .map(drop)
}

/// Turns MFA on with `sealed` as the secret, `step` as the last code used, and these backup
/// code hashes (replacing any earlier ones).
pub async fn enable(
    tx: &mut TenantTx,
    user: UserId,
    sealed: &[u8],
    step: i64,
    backup_code_hashes: &[[u8; 32]],
) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE users SET mfa_enabled = true, mfa_secret = $3, mfa_pending_secret = NULL, \
             mfa_last_step = $4, updated_at = now() \
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(user)
    .bind(sealed)
    .bind(step)
    .execute(tx.conn())
    .await?;
    sqlx::query("DELETE FROM mfa_backup_codes WHERE organization_id = $1 AND user_id = $2")
        .bind(org)
        .bind(user)
        .execute(tx.conn())
        .await?;
    let hashes: Vec<Vec<u8>> = backup_code_hashes.iter().map(|h| h.to_vec()).collect();
    sqlx::query(
        "INSERT INTO mfa_backup_codes (organization_id, user_id, id, code_hash) \
         SELECT $1, $2, gen_random_uuid(), h FROM unnest($3::bytea[]) AS h",
    )
    .bind(org)
    .bind(user)
    .bind(hashes)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// Turns MFA off and forgets the secret and backup codes.
pub async fn disable(tx: &mut TenantTx, user: UserId) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE users SET mfa_enabled = false, mfa_secret = NULL, mfa_pending_secret = NULL, \
             mfa_last_step = NULL, updated_at = now() \
         WHERE organization_id = $1 AND id = $2",
    )
    .bind(org)
    .bind(user)
    .execute(tx.conn())
    .await?;
    sqlx::query("DELETE FROM mfa_backup_codes WHERE organization_id = $1 AND user_id = $2")
        .bind(org)
        .bind(user)
        .execute(tx.conn())
        .await
        .map(drop)
}

/// Records the TOTP step just accepted, so its code cannot be used again.
pub async fn set_last_step(tx: &mut TenantTx, user: UserId, step: i64) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query("UPDATE users SET mfa_last_step = $3 WHERE organization_id = $1 AND id = $2")
        .bind(org)
        .bind(user)
        .bind(step)
        .execute(tx.conn())
        .await
        .map(drop)
}

/// Uses up the unused backup code with this hash; whether there was one.
pub async fn consume_backup_code(
    tx: &mut TenantTx,
    user: UserId,
    hash: &[u8; 32],
) -> Result<bool, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE mfa_backup_codes SET used_at = now() \
         WHERE organization_id = $1 AND user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(org)
    .bind(user)
    .bind(hash.as_slice())
    .execute(tx.conn())
    .await
    .map(|r| r.rows_affected() > 0)
}
