//! Master-key rotation, online and resumable (`haven keys rotate-master`).
//!
//! Every wrapped key not yet under the new master key is opened with the key its row names and
//! wrapped again under the new one, a small transaction at a time: the deployment secrets, the
//! signing keys, then each organization's keys. Nothing else changes — the keys themselves, and
//! so every ciphertext, checkpoint, TOTP secret and token made with them, stay as they are.
//!
//! * **Online.** Instances run with the new key and the previous one
//!   (`HAVEN_PREVIOUS_MASTER_KEY_FILE`) meanwhile, so they open rows of either kind; what they
//!   create is wrapped under the new key already.
//! * **Resumable.** Rows are selected by `kek_id IS DISTINCT FROM <new>`, so a run stopped at
//!   any point (a crash, a kill) leaves rows of both kinds, all openable, and the next run does
//!   the rest.
//! * **Refusing.** Before changing anything it refuses a row wrapped under a master key it was
//!   not given, and a second rotation running at the same time.
//! * **Audited** on the platform chain: `MASTER_KEY_ROTATION_STARTED` and
//!   `MASTER_KEY_ROTATION_COMPLETED`, with key ids and counts, never key material.

use serde_json::json;
use sqlx::Connection;

use super::secrets::{self, SecretsError};
use crate::audit::{self, AccessMethod, AuditAction, AuditEvent};
use crate::auth::keys::{KeyError, rewrap_signing_keys};
use crate::crypto::{KekId, MasterKeys};
use crate::db::AppPool;
use crate::ids::OrganizationId;
use crate::phi::{PhiError, rewrap_organization_keys};

/// The session-level advisory lock a rotation holds (hashed by PostgreSQL).
const LOCK: &str = "haven.master_key_rotation";

/// Walks over everything; a row wrapped under an old key by an instance that does not have the
/// new one yet (while the walk runs) is caught by the next pass.
const PASSES: usize = 3;

/// What a rotation re-wrapped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Deployment secrets (checkpoint, MFA, CSRF, DPoP-nonce keys).
    pub secrets: u64,
    /// JWT signing keys.
    pub signing_keys: u64,
    /// Organizations' data, blind-index and signing keys.
    pub organization_keys: u64,
    /// Organizations walked (the platform organization included).
    pub organizations: usize,
    /// Wrapped keys under the new master key at the end.
    pub total: i64,
}

impl RotationReport {
    /// Keys re-wrapped in all.
    #[must_use]
    pub fn rewrapped(&self) -> u64 {
        self.secrets + self.signing_keys + self.organization_keys
    }
}

/// Why a rotation stopped. Names key ids and counts, never key material.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// Rows are wrapped under a master key the rotation was not given.
    #[error(
        "{count} wrapped keys are under master key {kek}, which is neither the new key nor a key \
         given (HAVEN_MASTER_KEY_FILE, HAVEN_PREVIOUS_MASTER_KEY_FILE): give the key that wrapped \
         them; nothing was changed"
    )]
    UnknownKey {
        /// The key's id.
        kek: KekId,
        /// How many rows it wraps.
        count: i64,
    },
    /// Another rotation holds the lock.
    #[error("another master-key rotation is running; let it finish (nothing was changed)")]
    Busy,
    /// Rows keep appearing under an old key.
    #[error(
        "{remaining} wrapped keys are still not under the new master key after {PASSES} passes: \
         an instance without the new key is still creating keys; configure every instance with \
         the new key (and the previous one), then run the rotation again"
    )]
    NotConverged {
        /// Rows not under the new key.
        remaining: i64,
    },
    /// An organization key does not open.
    #[error("organization keys: {0}")]
    Phi(#[from] PhiError),
    /// A signing key does not open.
    #[error(transparent)]
    Signing(#[from] KeyError),
    /// A deployment secret does not open.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The database failed.
    #[error("master-key rotation: database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// How many wrapped keys each master key wraps (`None`: stored before rows named their key),
/// across every organization.
pub async fn usage(pool: &AppPool) -> Result<Vec<(Option<KekId>, i64)>, sqlx::Error> {
    let rows: Vec<(Option<String>, i64)> =
        sqlx::query_as("SELECT kek_id, wrapped_keys FROM haven_auth.master_key_usage()")
            .fetch_all(pool.platform().pool())
            .await?;
    Ok(rows
        .into_iter()
        .map(|(kek, count)| (kek.map(KekId::from_stored), count))
        .collect())
}

/// Re-wraps every wrapped key under `keys.current()`, opening each with whichever of `keys` it
/// names, in transactions of at most `batch` rows. Safe to run again after a crash: it does
/// what is left.
pub async fn rotate_master(
    pool: &AppPool,
    keys: &MasterKeys,
    batch: i64,
) -> Result<RotationReport, RotateError> {
    let new = keys.current().kek_id();
    let before = usage(pool).await?;
    if let Some((kek, count)) = before
        .iter()
        .find_map(|(kek, count)| kek.as_ref().filter(|k| !keys.holds(k)).map(|k| (k, *count)))
    {
        return Err(RotateError::UnknownKey {
            kek: kek.clone(),
            count,
        });
    }
    // Held by this connection until the end; a crash closes it and so releases the lock.
    let mut lock = pool.platform().pool().acquire().await?.detach();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(LOCK)
        .fetch_one(&mut lock)
        .await?;
    if !locked {
        return Err(RotateError::Busy);
    }

    secrets::ensure(pool, keys).await?;
    let pending: i64 = pending(&usage(pool).await?, &new);
    let from: Vec<String> = before
        .iter()
        .filter(|(kek, _)| kek.as_ref() != Some(&new))
        .map(|(kek, _)| kek.as_ref().map_or("unrecorded", KekId::as_str).to_owned())
        .collect();
    audit_platform(
        pool,
        AuditEvent::new(AuditAction::MasterKeyRotationStarted)
            .with_access_method(AccessMethod::System)
            .with_entity("master_key", new.as_str())
            .with_details(
                json!({ "toKekId": new.as_str(), "fromKekIds": from, "pending": pending }),
            ),
    )
    .await?;

    let mut report = RotationReport::default();
    let mut remaining = pending;
    for _ in 0..PASSES {
        if remaining == 0 {
            break;
        }
        walk(pool, keys, batch.max(1), &mut report).await?;
        remaining = pending_now(pool, &new).await?;
    }
    if remaining > 0 {
        return Err(RotateError::NotConverged { remaining });
    }
    report.total = usage(pool)
        .await?
        .iter()
        .filter(|(kek, _)| kek.as_ref() == Some(&new))
        .map(|(_, count)| count)
        .sum();

    audit_platform(
        pool,
        AuditEvent::new(AuditAction::MasterKeyRotationCompleted)
            .with_access_method(AccessMethod::System)
            .with_entity("master_key", new.as_str())
            .with_details(json!({
                "toKekId": new.as_str(),
                "rewrapped": {
                    "secrets": report.secrets,
                    "signingKeys": report.signing_keys,
                    "organizationKeys": report.organization_keys,
                },
                "organizations": report.organizations,
                "wrappedKeys": report.total,
            })),
    )
    .await?;
    tracing::info!(kek_id = %new, rewrapped = report.rewrapped(), "master-key rotation finished");
    let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
        .bind(LOCK)
        .execute(&mut lock)
        .await;
    let _ = lock.close().await;
    Ok(report)
}

/// One pass over every wrapped key.
async fn walk(
    pool: &AppPool,
    keys: &MasterKeys,
    batch: i64,
    report: &mut RotationReport,
) -> Result<(), RotateError> {
    report.secrets += secrets::rewrap(pool, keys).await?;
    loop {
        let done = rewrap_signing_keys(pool, keys, batch).await?;
        report.signing_keys += done;
        if done == 0 {
            break;
        }
    }
    let organizations: Vec<OrganizationId> = crate::store::organizations::all_ids(pool).await?;
    report.organizations = organizations.len();
    for org in organizations {
        loop {
            let done = rewrap_organization_keys(pool, keys, org, batch).await?;
            report.organization_keys += done;
            if done == 0 {
                break;
            }
        }
    }
    Ok(())
}

fn pending(usage: &[(Option<KekId>, i64)], new: &KekId) -> i64 {
    usage
        .iter()
        .filter(|(kek, _)| kek.as_ref() != Some(new))
        .map(|(_, count)| count)
        .sum()
}

async fn pending_now(pool: &AppPool, new: &KekId) -> Result<i64, sqlx::Error> {
    Ok(pending(&usage(pool).await?, new))
}

async fn audit_platform(pool: &AppPool, event: AuditEvent) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin_tenant(OrganizationId::PLATFORM, None).await?;
    audit::record(&mut tx, &event).await?;
    tx.commit().await
}
