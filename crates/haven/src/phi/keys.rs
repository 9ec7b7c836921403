//! The keyring: each organization's data and blind-index keys, from `organization_keys`.
//!
//! Keys are 32 random bytes, stored wrapped with [`AeadKey::derive`]`(master,
//! "organization-keys")` and associated data `organization_keys:<org>:<id>:<purpose>`, so a
//! wrapped key moved to another organization, id or purpose does not unwrap. Each row names the
//! master key that wrapped it (`kek_id`); during a master-key rotation either key opens its rows
//! ([`Wrapping`]), and [`rewrap_organization_keys`] moves them to the new one. Unwrapped keys are
//! cached per (organization, key id); the cache is only ever consulted by id under the
//! transaction's own organization, and which key is *active* is always read from the database,
//! so a rotation elsewhere takes effect on the next request.

use std::sync::{Arc, Mutex, PoisonError};

use uuid::Uuid;
use zeroize::Zeroizing;

use super::cache::{DEFAULT_CAPACITY, KeyBytes, KeyCache};
use super::{BlindKey, DataKey, FieldRef, PhiError, Purpose, SigningKey, field};
use crate::crypto::{KekId, MasterKeys, UnwrapError, Wrapping};
use crate::db::{AppPool, TenantTx};
use crate::ids::OrganizationId;

/// The purpose the wrapping key is derived for.
const WRAPPING_PURPOSE: &str = "organization-keys";

/// Attempts at creating a missing key: a lost race is followed by reading the winner's key, and
/// only a rotation landing in between can make that miss too.
const CREATE_ATTEMPTS: usize = 3;

/// Each organization's PHI keys. Cheap to clone (an `Arc` inside); share one per process so the
/// cache is shared. Redacted in `Debug`.
#[derive(Clone)]
pub struct Keyring(Arc<Inner>);

struct Inner {
    wrapping: Wrapping,
    cache: Mutex<KeyCache>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("cached_keys", &self.cached_keys())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// A keyring whose keys are wrapped under `master` (the current key; during a rotation the
    /// previous one opens the keys it still wraps).
    #[must_use]
    pub fn new(master: impl Into<MasterKeys>) -> Self {
        Self::with_capacity(master, DEFAULT_CAPACITY)
    }

    /// A keyring caching at most `capacity` unwrapped keys.
    #[must_use]
    pub fn with_capacity(master: impl Into<MasterKeys>, capacity: usize) -> Self {
        Self(Arc::new(Inner {
            wrapping: Wrapping::derive(&master.into(), WRAPPING_PURPOSE),
            cache: Mutex::new(KeyCache::new(capacity)),
        }))
    }

    /// How many unwrapped keys are cached (metrics, tests).
    #[must_use]
    pub fn cached_keys(&self) -> usize {
        self.cache().len()
    }

    /// The organization's active data key, created on first use.
    pub async fn data_key(&self, tx: &mut TenantTx) -> Result<DataKey, PhiError> {
        let (id, key) = self.active(tx, Purpose::Data).await?;
        Ok(DataKey::new(tx.organization_id(), id, key))
    }

    /// The organization's blind-index key, created on first use.
    pub async fn blind_key(&self, tx: &mut TenantTx) -> Result<BlindKey, PhiError> {
        let (id, key) = self.active(tx, Purpose::Blind).await?;
        Ok(BlindKey::new(tx.organization_id(), id, key))
    }

    /// The organization's signing key (HMAC-SHA256 of signed clinical records), created on
    /// first use. It never rotates.
    pub async fn signing_key(&self, tx: &mut TenantTx) -> Result<SigningKey, PhiError> {
        let (id, key) = self.active(tx, Purpose::Signing).await?;
        Ok(SigningKey::new(tx.organization_id(), id, key))
    }

    /// The organization's signing key `id` (to check a stored signature).
    pub async fn signing_key_by_id(
        &self,
        tx: &mut TenantTx,
        id: Uuid,
    ) -> Result<SigningKey, PhiError> {
        let key = self.key_of(tx, id, Purpose::Signing).await?;
        Ok(SigningKey::new(tx.organization_id(), id, key))
    }

    /// Decrypts `blob` of `field` made with [`DataKey::encrypt_bound`] and `bound`.
    pub async fn decrypt_bound(
        &self,
        tx: &mut TenantTx,
        field: &FieldRef,
        bound: &str,
        blob: &[u8],
    ) -> Result<Zeroizing<String>, PhiError> {
        if field.organization_id != tx.organization_id() {
            return Err(PhiError::Decrypt);
        }
        let key = self.key_by_id(tx, field::key_id(blob)?).await?;
        field::decrypt_bound_with(&key, field, bound, blob)
    }

    /// The organization's data key `id`, active or retired (for ciphertexts written before a
    /// rotation). [`PhiError::UnknownKey`] when this organization has no such data key.
    pub async fn key_by_id(&self, tx: &mut TenantTx, id: Uuid) -> Result<DataKey, PhiError> {
        let key = self.key_of(tx, id, Purpose::Data).await?;
        Ok(DataKey::new(tx.organization_id(), id, key))
    }

    async fn key_of(
        &self,
        tx: &mut TenantTx,
        id: Uuid,
        purpose: Purpose,
    ) -> Result<KeyBytes, PhiError> {
        let org = tx.organization_id();
        if let Some(key) = self.cache().get(org, id, purpose) {
            return Ok(key);
        }
        let row: Option<(Vec<u8>, Option<String>)> = sqlx::query_as(
            "SELECT wrapped_key, kek_id FROM organization_keys \
             WHERE organization_id = $1 AND id = $2 AND purpose = $3",
        )
        .bind(org)
        .bind(id)
        .bind(purpose.as_str())
        .fetch_optional(tx.conn())
        .await?;
        let (wrapped, kek) = row.ok_or(PhiError::UnknownKey)?;
        self.unwrap_and_cache(org, id, purpose, &wrapped, kek)
    }

    /// Decrypts `blob` of `field` with the key the blob names (from the cache when warm).
    /// `field` must belong to the transaction's organization.
    pub async fn decrypt(
        &self,
        tx: &mut TenantTx,
        field: &FieldRef,
        blob: &[u8],
    ) -> Result<Zeroizing<String>, PhiError> {
        if field.organization_id != tx.organization_id() {
            return Err(PhiError::Decrypt);
        }
        let key = self.key_by_id(tx, field::key_id(blob)?).await?;
        field::decrypt_with(&key, field, blob)
    }

    /// Retires the organization's active data key (if any) and makes a new one, in `tx`; returns
    /// the retired key's id and the new key. The caller holds the organization's rotation lock.
    pub(super) async fn replace_data_key(
        &self,
        tx: &mut TenantTx,
    ) -> Result<(Option<Uuid>, DataKey), PhiError> {
        let org = tx.organization_id();
        for _ in 0..CREATE_ATTEMPTS {
            let retired: Option<Uuid> = sqlx::query_scalar(
                "UPDATE organization_keys SET retired_at = now() \
                 WHERE organization_id = $1 AND purpose = $2 AND retired_at IS NULL \
                 RETURNING id",
            )
            .bind(org)
            .bind(Purpose::Data.as_str())
            .fetch_optional(tx.conn())
            .await?;
            // A first use committing meanwhile makes this insert do nothing: retire that one too.
            if let Some((id, key)) = self.insert(tx, Purpose::Data).await? {
                return Ok((retired, DataKey::new(org, id, key)));
            }
        }
        Err(PhiError::UnknownKey)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, KeyCache> {
        // The cache holds no invariant a panicking holder could break half-way.
        self.0.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn active(
        &self,
        tx: &mut TenantTx,
        purpose: Purpose,
    ) -> Result<(Uuid, KeyBytes), PhiError> {
        let org = tx.organization_id();
        for _ in 0..CREATE_ATTEMPTS {
            let row: Option<(Uuid, Vec<u8>, Option<String>)> = sqlx::query_as(
                "SELECT id, wrapped_key, kek_id FROM organization_keys \
                 WHERE organization_id = $1 AND purpose = $2 AND retired_at IS NULL",
            )
            .bind(org)
            .bind(purpose.as_str())
            .fetch_optional(tx.conn())
            .await?;
            if let Some((id, wrapped, kek)) = row {
                if let Some(key) = self.cache().get(org, id, purpose) {
                    return Ok((id, key));
                }
                return Ok((id, self.unwrap_and_cache(org, id, purpose, &wrapped, kek)?));
            }
            // None yet. Racing first requests all insert; the partial unique index lets one win
            // and makes the others wait for it and do nothing; they then read the winner's key.
            if let Some(created) = self.insert(tx, purpose).await? {
                return Ok(created);
            }
        }
        Err(PhiError::UnknownKey)
    }

    /// Inserts a new active key unless one is active already (`None` then).
    async fn insert(
        &self,
        tx: &mut TenantTx,
        purpose: Purpose,
    ) -> Result<Option<(Uuid, KeyBytes)>, PhiError> {
        let org = tx.organization_id();
        let id = Uuid::now_v7();
        let mut raw = Zeroizing::new([0u8; 32]);
        getrandom::fill(raw.as_mut_slice()).expect("the operating system's RNG is unavailable");
        let wrapped = self
            .0
            .wrapping
            .seal(raw.as_slice(), wrapping_aad(org, id, purpose).as_bytes());
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO organization_keys (organization_id, id, purpose, wrapped_key, kek_id) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (organization_id, purpose) WHERE retired_at IS NULL DO NOTHING \
             RETURNING id",
        )
        .bind(org)
        .bind(id)
        .bind(purpose.as_str())
        .bind(&wrapped)
        .bind(self.0.wrapping.current().as_str())
        .fetch_optional(tx.conn())
        .await?;
        if inserted.is_none() {
            return Ok(None);
        }
        // Cached before the transaction commits: harmless, since the cache is found only by an
        // id read from the database (or from a blob) and a rolled-back id appears in neither.
        let key: KeyBytes = Arc::new(raw);
        self.cache().insert(org, id, purpose, Arc::clone(&key));
        Ok(Some((id, key)))
    }

    fn unwrap_and_cache(
        &self,
        org: OrganizationId,
        id: Uuid,
        purpose: Purpose,
        wrapped: &[u8],
        kek: Option<String>,
    ) -> Result<KeyBytes, PhiError> {
        // A key that does not unwrap (a row moved or altered) is as opaque to the caller as a
        // ciphertext that does not open; one wrapped under a master key this instance lacks is a
        // configuration error, named for the operator (the caller still sees only a 500).
        let opened = self
            .0
            .wrapping
            .open(
                kek.map(KekId::from_stored).as_ref(),
                wrapped,
                wrapping_aad(org, id, purpose).as_bytes(),
            )
            .map_err(unwrap_error)?;
        if opened.len() != 32 {
            return Err(PhiError::Decrypt);
        }
        // Copied straight into zeroizing storage: no stray copy of the key on the stack.
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(&opened);
        let key: KeyBytes = Arc::new(bytes);
        self.cache().insert(org, id, purpose, Arc::clone(&key));
        Ok(key)
    }
}

fn wrapping_aad(org: OrganizationId, id: Uuid, purpose: Purpose) -> String {
    stored_aad(org, id, purpose.as_str())
}

fn stored_aad(org: OrganizationId, id: Uuid, purpose: &str) -> String {
    format!("organization_keys:{org}:{id}:{purpose}")
}

fn unwrap_error(error: UnwrapError) -> PhiError {
    match error {
        UnwrapError::MissingKey(kek) => PhiError::MasterKeyMissing(kek),
        UnwrapError::Failed => PhiError::Decrypt,
    }
}

/// Re-wraps up to `limit` of `org`'s keys not yet under `keys`' current master key, in one
/// transaction (rows locked, so a second rotation waits rather than doing the same work); returns
/// how many. A row naming a key not in `keys` stops it with [`PhiError::MasterKeyMissing`].
pub async fn rewrap_organization_keys(
    pool: &AppPool,
    keys: &MasterKeys,
    org: OrganizationId,
    limit: i64,
) -> Result<u64, PhiError> {
    let wrapping = Wrapping::derive(keys, WRAPPING_PURPOSE);
    let mut tx = pool.begin_tenant(org, None).await?;
    let rows: Vec<(Uuid, String, Vec<u8>, Option<String>)> = sqlx::query_as(
        "SELECT id, purpose, wrapped_key, kek_id FROM organization_keys \
         WHERE organization_id = $1 AND kek_id IS DISTINCT FROM $2 \
         ORDER BY id LIMIT $3 FOR UPDATE",
    )
    .bind(org)
    .bind(wrapping.current().as_str())
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    for (id, purpose, wrapped, kek) in &rows {
        let aad = stored_aad(org, *id, purpose);
        let raw = wrapping
            .open(
                kek.clone().map(KekId::from_stored).as_ref(),
                wrapped,
                aad.as_bytes(),
            )
            .map_err(unwrap_error)?;
        sqlx::query(
            "UPDATE organization_keys SET wrapped_key = $3, kek_id = $4 \
             WHERE organization_id = $1 AND id = $2",
        )
        .bind(org)
        .bind(id)
        .bind(wrapping.seal(&raw, aad.as_bytes()))
        .bind(wrapping.current().as_str())
        .execute(tx.conn())
        .await?;
    }
    tx.commit().await?;
    Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
}
