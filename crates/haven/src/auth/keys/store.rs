//! [`KeyStore`]: one instance's in-memory copy of the signing keys, swapped whole on refresh so a
//! request always sees one consistent set.

use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey, Validation};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::generate::{PublicParts, open, unwrap_private};
use super::jwks::{Jwk, JwkSet};
use super::rotation::{self, RotationReason};
use super::{AEAD_PURPOSE, KeyError};
use crate::config::AuthConfig;
use crate::crypto::{AeadKey, KekId, MasterKey, MasterKeys, Wrapping};
use crate::db::AppPool;

/// An unknown kid may send this instance back to the database at most this often, so a flood of
/// made-up kids cannot turn into a flood of queries.
const UNKNOWN_KID_REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// The signing keys: the active one for issuing, the active and in-grace ones for verifying.
/// Cheap to clone; every clone shares the same keys.
#[derive(Clone, Debug)]
pub struct KeyStore(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    pool: AppPool,
    aead: Wrapping,
    grace: Duration,
    rotation_interval: Duration,
    validation: Validation,
    keys: RwLock<Arc<KeySet>>,
    /// Serializes refreshes (so an older read never replaces a newer one) and remembers when an
    /// unknown kid last caused one.
    refresh: Mutex<Option<Instant>>,
    /// Access tokens whose signature and claims were checked (`auth::token`).
    verified: crate::auth::token::VerifiedTokens,
}

#[derive(Debug)]
struct KeySet {
    active_kid: String,
    signing: EncodingKey,
    /// The active key, then keys in their grace period, newest first.
    verifying: Vec<Arc<VerifyingKey>>,
}

/// A key tokens may be verified with.
#[derive(Debug)]
pub(crate) struct VerifyingKey {
    kid: String,
    public_der: Vec<u8>,
    public: PublicParts,
    decoding: DecodingKey,
    /// The end of its grace period; `None` while it is the active key.
    usable_until: Option<DateTime<Utc>>,
}

impl VerifyingKey {
    /// Whether `other` is the same key (the same kid and public key).
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        std::ptr::eq(self, other) || (self.kid == other.kid && self.public_der == other.public_der)
    }

    /// The key for jsonwebtoken.
    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    fn usable(&self, now: DateTime<Utc>) -> bool {
        self.usable_until.is_none_or(|until| now < until)
    }
}

impl KeySet {
    fn find(&self, kid: &str) -> Option<&Arc<VerifyingKey>> {
        self.verifying.iter().find(|key| key.kid == kid)
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    public_key_der: Vec<u8>,
    private_key_encrypted: Vec<u8>,
    kek_id: Option<String>,
    retired_at: Option<DateTime<Utc>>,
    usable_until: Option<DateTime<Utc>>,
}

impl KeyStore {
    /// Loads the keys, first creating one if none is active (once, however many instances start
    /// together). Fails if the active key does not open with `master` (the current master key,
    /// or during a rotation the previous one).
    pub async fn load(
        pool: &AppPool,
        master: impl Into<MasterKeys>,
        config: &AuthConfig,
    ) -> Result<Self, KeyError> {
        let aead = Wrapping::derive(&master.into(), AEAD_PURPOSE);
        rotation::ensure_active(pool, &aead).await?;
        let keys = read(pool, &aead, config.key_grace_period, None).await?;
        Ok(Self(Arc::new(Inner {
            pool: pool.clone(),
            aead,
            grace: config.key_grace_period,
            rotation_interval: config.key_rotation_interval,
            validation: crate::auth::token::validation(config),
            keys: RwLock::new(Arc::new(keys)),
            refresh: Mutex::new(None),
            verified: crate::auth::token::VerifiedTokens::default(),
        })))
    }

    /// Re-reads the table: picks up a key rotated elsewhere, drops keys past their grace.
    pub async fn refresh(&self) -> Result<(), KeyError> {
        let _guard = self.0.refresh.lock().await;
        self.refresh_locked().await
    }

    async fn refresh_locked(&self) -> Result<(), KeyError> {
        let previous = self.snapshot();
        let next = read(&self.0.pool, &self.0.aead, self.0.grace, Some(&previous)).await?;
        if next.active_kid != previous.active_kid {
            tracing::info!(kid = %next.active_kid, "now signing with a new key");
        }
        *self.0.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        Ok(())
    }

    /// Rotates now (see [`super::rotate`]) and starts signing with the new key; returns its kid.
    pub async fn rotate(&self, reason: RotationReason) -> Result<String, KeyError> {
        let kid = rotation::rotate_with(&self.0.pool, &self.0.aead, reason).await?;
        self.refresh().await?;
        Ok(kid)
    }

    /// The kid new tokens are signed with.
    #[must_use]
    pub fn active_kid(&self) -> String {
        self.snapshot().active_kid.clone()
    }

    /// The public keys for `/.well-known/jwks.json`: the active one and those in grace.
    #[must_use]
    pub fn jwks(&self) -> JwkSet {
        let now = Utc::now();
        JwkSet {
            keys: self
                .snapshot()
                .verifying
                .iter()
                .filter(|key| key.usable(now))
                .map(|key| Jwk::rsa(&key.kid, &key.public))
                .collect(),
        }
    }

    /// Re-reads the table every `period` (30 s is the intended default) until every clone of
    /// this store is dropped. A failed refresh keeps the current keys and is logged.
    pub fn spawn_refresher(&self, period: Duration) -> JoinHandle<()> {
        self.spawn_periodic(period, |store| async move {
            if let Err(error) = store.refresh().await {
                tracing::warn!(error = %crate::telemetry::loggable(&error), "refreshing the signing keys failed");
            }
        })
    }

    /// Every `check_every` (a few minutes), rotates the active key once it is older than
    /// `HAVEN_KEY_ROTATION_DAYS`. Instances race for a lock; the losers skip that round.
    pub fn spawn_rotation_job(&self, check_every: Duration) -> JoinHandle<()> {
        self.spawn_periodic(check_every, |store| async move {
            let inner = &store.0;
            match rotation::rotate_if_due_with(&inner.pool, &inner.aead, inner.rotation_interval)
                .await
            {
                Ok(Some(_)) => {
                    if let Err(error) = store.refresh().await {
                        tracing::warn!(error = %crate::telemetry::loggable(&error), "refreshing the signing keys failed");
                    }
                }
                Ok(None) => {}
                Err(error) => tracing::error!(error = %crate::telemetry::loggable(&error), "scheduled signing key rotation failed"),
            }
        })
    }

    /// Runs `job` every `period`, holding only a weak reference between runs.
    fn spawn_periodic<F, Fut>(&self, period: Duration, job: F) -> JoinHandle<()>
    where
        F: Fn(KeyStore) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let weak: Weak<Inner> = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is immediate; the keys were just loaded.
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                job(KeyStore(inner)).await;
            }
        })
    }

    /// The validation settings for access tokens.
    pub(crate) fn verified_tokens(&self) -> &crate::auth::token::VerifiedTokens {
        &self.0.verified
    }

    pub(crate) fn validation(&self) -> &Validation {
        &self.0.validation
    }

    /// Signs with the active key: `f(kid, key)`.
    pub(crate) fn with_signer<R>(&self, f: impl FnOnce(&str, &EncodingKey) -> R) -> R {
        let keys = self.snapshot();
        f(&keys.active_kid, &keys.signing)
    }

    /// The key `kid` names, if it may verify now. A kid this instance does not know sends it to
    /// the database (at most once per [`UNKNOWN_KID_REFRESH_INTERVAL`]): another instance may
    /// just have rotated.
    pub(crate) async fn verifying_key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        if let Some(key) = self.usable_key(kid) {
            return Some(key);
        }
        let mut last = self.0.refresh.lock().await;
        // Whoever held the lock before may have loaded it already.
        if let Some(key) = self.usable_key(kid) {
            return Some(key);
        }
        if last.is_some_and(|at| at.elapsed() < UNKNOWN_KID_REFRESH_INTERVAL) {
            return None;
        }
        *last = Some(Instant::now());
        if let Err(error) = self.refresh_locked().await {
            tracing::warn!(error = %crate::telemetry::loggable(&error), "refreshing the signing keys for an unknown kid failed");
        }
        self.usable_key(kid)
    }

    fn usable_key(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        let keys = self.snapshot();
        keys.find(kid)
            .filter(|key| key.usable(Utc::now()))
            .map(Arc::clone)
    }

    fn snapshot(&self) -> Arc<KeySet> {
        Arc::clone(&self.0.keys.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Reads the active and in-grace keys, opening only those not already in `previous`.
async fn read(
    pool: &AppPool,
    aead: &Wrapping,
    grace: Duration,
    previous: Option<&KeySet>,
) -> Result<KeySet, KeyError> {
    let rows: Vec<KeyRow> = sqlx::query_as(
        "SELECT kid, public_key_der, private_key_encrypted, kek_id, retired_at, \
                retired_at + make_interval(secs => $1) AS usable_until \
         FROM signing_keys \
         WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1) \
         ORDER BY retired_at DESC NULLS FIRST, created_at DESC",
    )
    .bind(grace.as_secs_f64())
    .fetch_all(pool.platform().pool())
    .await?;

    let mut signer = None;
    let mut verifying = Vec::with_capacity(rows.len());
    for row in rows {
        let kek = row.kek_id.clone().map(KekId::from_stored);
        let known = previous
            .and_then(|keys| keys.find(&row.kid))
            .filter(|key| key.public_der == row.public_key_der);
        let public = if row.retired_at.is_none() {
            let reused = previous
                .filter(|keys| keys.active_kid == row.kid)
                .zip(known)
                .map(|(keys, key)| (keys.signing.clone(), key.public.clone()));
            let (signing, public) = match reused {
                Some(pair) => pair,
                None => {
                    let opened = open(
                        aead,
                        kek.as_ref(),
                        &row.kid,
                        &row.private_key_encrypted,
                        &row.public_key_der,
                    )?;
                    (opened.encoding, opened.public)
                }
            };
            signer = Some((row.kid.clone(), signing));
            public
        } else if let Some(key) = known {
            key.public.clone()
        } else {
            // A retired key that does not open verifies nothing, but must not stop the others.
            match open(
                aead,
                kek.as_ref(),
                &row.kid,
                &row.private_key_encrypted,
                &row.public_key_der,
            ) {
                Ok(opened) => opened.public,
                Err(error) => {
                    tracing::error!(error = %crate::telemetry::loggable(&error), "ignoring a retired signing key");
                    continue;
                }
            }
        };
        verifying.push(Arc::new(VerifyingKey {
            // From the DER, which `open` (or the previous set) proved matches the private key:
            // aws-lc verifies about a third faster from it than from the raw (n, e).
            decoding: DecodingKey::from_rsa_der(&row.public_key_der),
            kid: row.kid,
            public_der: row.public_key_der,
            public,
            usable_until: row.usable_until,
        }));
    }
    let (active_kid, signing) = signer.ok_or(KeyError::NoActiveKey)?;
    Ok(KeySet {
        active_kid,
        signing,
        verifying,
    })
}

/// Re-wraps up to `limit` signing keys not yet under `keys`' current master key, in one
/// transaction (rows locked); returns how many. The keys themselves, their kids and public
/// halves do not change, so tokens signed before verify after.
pub async fn rewrap_signing_keys(
    pool: &AppPool,
    keys: &MasterKeys,
    limit: i64,
) -> Result<u64, KeyError> {
    let wrapping = Wrapping::derive(keys, AEAD_PURPOSE);
    let mut tx = pool.platform().begin().await?;
    let rows: Vec<(String, Vec<u8>, Option<String>)> = sqlx::query_as(
        "SELECT kid, private_key_encrypted, kek_id FROM signing_keys \
         WHERE kek_id IS DISTINCT FROM $1 ORDER BY created_at, kid LIMIT $2 FOR UPDATE",
    )
    .bind(wrapping.current().as_str())
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    for (kid, sealed, kek) in &rows {
        let pkcs8 = unwrap_private(
            &wrapping,
            kek.clone().map(KekId::from_stored).as_ref(),
            kid,
            sealed,
        )?;
        sqlx::query(
            "UPDATE signing_keys SET private_key_encrypted = $2, kek_id = $3 WHERE kid = $1",
        )
        .bind(kid)
        .bind(wrapping.seal(&pkcs8, kid.as_bytes()))
        .bind(wrapping.current().as_str())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
}

/// Which of `keys` wrapped the signing keys stored before rows named their master key — the key
/// the deployment ran on before it recorded key ids — tried on the oldest such key. `None` when
/// every signing key names its master key (or there is none yet); [`KeyError::Corrupt`] when
/// none of `keys` opens it (the wrong key is configured).
pub async fn legacy_master_key<'k>(
    pool: &AppPool,
    keys: &'k MasterKeys,
) -> Result<Option<&'k MasterKey>, KeyError> {
    let row: Option<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT kid, private_key_encrypted FROM signing_keys WHERE kek_id IS NULL \
         ORDER BY created_at, kid LIMIT 1",
    )
    .fetch_optional(pool.platform().pool())
    .await?;
    let Some((kid, sealed)) = row else {
        return Ok(None);
    };
    keys.all()
        .find(|key| {
            AeadKey::derive(key, AEAD_PURPOSE)
                .open(&sealed, kid.as_bytes())
                .is_ok()
        })
        .map(Some)
        .ok_or(KeyError::Corrupt(kid))
}
