//! The deployment's secrets: the audit checkpoint MAC key, the key that seals TOTP secrets, the
//! CSRF key and the DPoP-nonce key, stored in `wrapped_secrets` wrapped by the master key.
//!
//! They used to be derived from the master key directly; a rotation would then have changed them
//! and broken every checkpoint and MFA enrolment. Now each is created once — as the bytes the
//! deployment derived until then (see [`ensure`]), so nothing made under them changes — and a
//! master-key rotation only re-wraps it.

use zeroize::Zeroizing;

use crate::auth::keys::{KeyError, legacy_master_key};
use crate::crypto::{KekId, MasterKeys, UnwrapError, Wrapping};
use crate::db::AppPool;

/// The purpose the wrapping key is derived for.
const WRAPPING_PURPOSE: &str = "wrapped-secrets";

/// One stored secret; its name is also the purpose it was once derived for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretPurpose {
    /// Signs checkpoints of the audit chain heads.
    AuditCheckpoints,
    /// Seals users' TOTP secrets.
    MfaSecrets,
    /// Signs CSRF tokens of cookie sessions.
    Csrf,
    /// Signs DPoP nonces.
    DpopNonce,
}

impl SecretPurpose {
    /// Every secret.
    pub const ALL: [Self; 4] = [
        Self::AuditCheckpoints,
        Self::MfaSecrets,
        Self::Csrf,
        Self::DpopNonce,
    ];

    /// The stored name (and derivation purpose).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuditCheckpoints => "audit-checkpoints",
            Self::MfaSecrets => "mfa-secrets",
            Self::Csrf => "csrf",
            Self::DpopNonce => "dpop-nonce",
        }
    }

    fn aad(self) -> String {
        format!("wrapped_secrets:{}", self.as_str())
    }
}

/// Why the secrets could not be had. Names a key's public id at most.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The database failed.
    #[error("deployment secrets: database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A secret does not open.
    #[error("the deployment secret {purpose} cannot be opened: {reason}")]
    Unwrap {
        /// Which secret.
        purpose: &'static str,
        /// Why.
        reason: UnwrapError,
    },
    /// The configured keys did not wrap this database's signing keys: the secrets cannot be
    /// recreated from the right key.
    #[error("deployment secrets: {0}")]
    Signing(#[from] KeyError),
    /// A row is missing although it was just created (deleted by hand?).
    #[error("the deployment secret {0} is missing")]
    Missing(&'static str),
}

/// The secrets, unwrapped. Zeroized on drop, redacted in `Debug`.
pub struct DeploymentSecrets {
    /// Signs checkpoints of the audit chain heads.
    pub audit_checkpoints: Zeroizing<[u8; 32]>,
    /// Seals users' TOTP secrets (AES-256-GCM).
    pub mfa_secrets: Zeroizing<[u8; 32]>,
    /// Signs CSRF tokens.
    pub csrf: Zeroizing<[u8; 32]>,
    /// Signs DPoP nonces.
    pub dpop_nonce: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DeploymentSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeploymentSecrets([REDACTED])")
    }
}

/// Creates the missing secrets (race-free: every instance inserts the same bytes and the first
/// wins), then reads and unwraps them all with whichever of `keys` each names.
pub async fn load(pool: &AppPool, keys: &MasterKeys) -> Result<DeploymentSecrets, SecretsError> {
    ensure(pool, keys).await?;
    let wrapping = Wrapping::derive(keys, WRAPPING_PURPOSE);
    let rows: Vec<(String, String, Vec<u8>)> =
        sqlx::query_as("SELECT purpose, kek_id, wrapped FROM wrapped_secrets")
            .fetch_all(pool.platform().pool())
            .await?;
    let open = |purpose: SecretPurpose| {
        let (_, kek, wrapped) = rows
            .iter()
            .find(|(name, _, _)| name == purpose.as_str())
            .ok_or(SecretsError::Missing(purpose.as_str()))?;
        unwrap(&wrapping, purpose, kek, wrapped)
    };
    Ok(DeploymentSecrets {
        audit_checkpoints: open(SecretPurpose::AuditCheckpoints)?,
        mfa_secrets: open(SecretPurpose::MfaSecrets)?,
        csrf: open(SecretPurpose::Csrf)?,
        dpop_nonce: open(SecretPurpose::DpopNonce)?,
    })
}

/// Inserts each missing secret as the bytes the deployment derived from its key so far, wrapped
/// under the current master key.
///
/// Which key that was matters: bytes derived from any other would silently invalidate every
/// checkpoint and MFA enrolment. On a database of before key ids, it is the key that opens the
/// signing keys of then (so a swapped or wrong configuration is caught, and nothing is
/// written); otherwise the previous key during a rotation, else the current one.
pub async fn ensure(pool: &AppPool, keys: &MasterKeys) -> Result<(), SecretsError> {
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM wrapped_secrets")
        .fetch_one(pool.platform().pool())
        .await?;
    if usize::try_from(stored).is_ok_and(|n| n >= SecretPurpose::ALL.len()) {
        return Ok(());
    }
    let origin = legacy_master_key(pool, keys)
        .await?
        .unwrap_or_else(|| keys.origin());
    let wrapping = Wrapping::derive(keys, WRAPPING_PURPOSE);
    let purposes: Vec<&str> = SecretPurpose::ALL.iter().map(|p| p.as_str()).collect();
    let wrapped: Vec<Vec<u8>> = SecretPurpose::ALL
        .iter()
        .map(|p| {
            let secret = origin.derive(p.as_str());
            wrapping.seal(secret.as_slice(), p.aad().as_bytes())
        })
        .collect();
    sqlx::query(
        "INSERT INTO wrapped_secrets (purpose, kek_id, wrapped) \
         SELECT purpose, $2, wrapped FROM unnest($1::text[], $3::bytea[]) AS s (purpose, wrapped) \
         ON CONFLICT (purpose) DO NOTHING",
    )
    .bind(&purposes)
    .bind(wrapping.current().as_str())
    .bind(&wrapped)
    .execute(pool.platform().pool())
    .await?;
    Ok(())
}

/// Re-wraps the secrets not yet under `keys`' current master key, in one transaction (rows
/// locked); returns how many.
pub async fn rewrap(pool: &AppPool, keys: &MasterKeys) -> Result<u64, SecretsError> {
    let wrapping = Wrapping::derive(keys, WRAPPING_PURPOSE);
    let mut tx = pool.platform().begin().await?;
    let rows: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT purpose, kek_id, wrapped FROM wrapped_secrets WHERE kek_id <> $1 \
         ORDER BY purpose FOR UPDATE",
    )
    .bind(wrapping.current().as_str())
    .fetch_all(&mut *tx)
    .await?;
    let mut count = 0;
    for (name, kek, wrapped) in &rows {
        let Some(purpose) = SecretPurpose::ALL.into_iter().find(|p| p.as_str() == name) else {
            continue;
        };
        let secret = unwrap(&wrapping, purpose, kek, wrapped)?;
        sqlx::query(
            "UPDATE wrapped_secrets SET wrapped = $2, kek_id = $3, rewrapped_at = now() \
             WHERE purpose = $1",
        )
        .bind(name)
        .bind(wrapping.seal(secret.as_slice(), purpose.aad().as_bytes()))
        .bind(wrapping.current().as_str())
        .execute(&mut *tx)
        .await?;
        count += 1;
    }
    tx.commit().await?;
    Ok(count)
}

fn unwrap(
    wrapping: &Wrapping,
    purpose: SecretPurpose,
    kek: &str,
    wrapped: &[u8],
) -> Result<Zeroizing<[u8; 32]>, SecretsError> {
    let failed = |reason| SecretsError::Unwrap {
        purpose: purpose.as_str(),
        reason,
    };
    let opened = wrapping
        .open(
            Some(&KekId::from_stored(kek.to_owned())),
            wrapped,
            purpose.aad().as_bytes(),
        )
        .map_err(failed)?;
    let mut key = Zeroizing::new([0u8; 32]);
    if opened.len() != key.len() {
        return Err(failed(UnwrapError::Failed));
    }
    key.copy_from_slice(&opened);
    Ok(key)
}
