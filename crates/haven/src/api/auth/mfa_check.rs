//! The second factor at login and when disabling MFA: a TOTP code (each accepted once) or a
//! backup code (each usable once).

use crate::app::AppState;
use crate::auth::mfa;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::ids::UserId;
use crate::store::mfa as mfa_store;
use crate::store::users::Credentials;

/// The associated data that binds a sealed TOTP secret to its user.
#[must_use]
pub fn secret_aad(tx: &TenantTx, user: UserId) -> Vec<u8> {
    format!("users.mfa_secret:{}:{user}", tx.organization_id()).into_bytes()
}

/// What the presented code amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaCheck {
    /// No second factor needed, or a good one given (and now used up).
    Passed,
    /// Needed, not given.
    Missing,
    /// Given, wrong (or replayed).
    Wrong,
}

/// Checks `code` against the account's second factor, consuming it when good.
pub async fn check_second_factor(
    state: &AppState,
    tx: &mut TenantTx,
    user: UserId,
    credentials: &Credentials,
    code: Option<&str>,
) -> Result<MfaCheck, AppError> {
    if !credentials.mfa_enabled {
        return Ok(MfaCheck::Passed);
    }
    let Some(code) = code
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.len() <= 32)
    else {
        return Ok(MfaCheck::Missing);
    };
    if !mfa::looks_like_backup_code(code) {
        let sealed = credentials
            .mfa_secret
            .as_deref()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("MFA enabled without a secret")))?;
        let secret = state
            .mfa_key()
            .open(sealed, &secret_aad(tx, user))
            .map_err(|_| AppError::Internal(anyhow::anyhow!("an MFA secret does not open")))?;
        let now = chrono::Utc::now().timestamp().unsigned_abs();
        return Ok(
            match mfa::verify_totp(&secret, code, now, credentials.mfa_last_step) {
                Some(step) => {
                    mfa_store::set_last_step(tx, user, step).await?;
                    MfaCheck::Passed
                }
                None => MfaCheck::Wrong,
            },
        );
    }
    let hash = mfa::hash_backup_code(code);
    Ok(if mfa_store::consume_backup_code(tx, user, &hash).await? {
        MfaCheck::Passed
    } else {
        MfaCheck::Wrong
    })
}
