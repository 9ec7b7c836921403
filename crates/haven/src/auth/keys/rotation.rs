//! Creating and rotating signing keys, and listing them for `haven keys list`.
//!
//! Every change happens in one platform-organization transaction under an advisory lock: the old
//! key is retired, the new one inserted and `KEY_ROTATED` audited together, and two instances
//! starting or rotating at once cannot both create a key (the unique index on the active key
//! would refuse the second anyway; the lock makes the loser wait and see the winner's key).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::generate::generate;
use super::{AEAD_PURPOSE, KeyError};
use crate::audit::{self, AccessMethod, AuditAction, AuditEvent};
use crate::config::AuthConfig;
use crate::crypto::{MasterKeys, Wrapping};
use crate::db::AppPool;
use crate::ids::OrganizationId;

/// The advisory lock every change to `signing_keys` takes (hashed by PostgreSQL).
const LOCK: &str = "haven.signing_keys";

static ROTATIONS: AtomicU64 = AtomicU64::new(0);

/// How many rotations this process has performed. (`haven_key_rotations_total` counts those of
/// every process, from the database: see `telemetry::metrics::render_key_rotations`.)
#[must_use]
pub fn rotations_total() -> u64 {
    ROTATIONS.load(Ordering::Relaxed)
}

/// Why a key was rotated; recorded in the audit event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationReason {
    /// The active key reached `HAVEN_KEY_ROTATION_DAYS`.
    Scheduled,
    /// `haven keys rotate`, e.g. after a suspected compromise.
    Manual,
}

impl RotationReason {
    /// The name in the audit event.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Manual => "manual",
        }
    }
}

/// What to do once the lock is held.
#[derive(Clone, Copy)]
enum Plan {
    /// First start: create a key unless one is active.
    CreateIfMissing,
    /// Retire the active key whatever its age.
    Rotate(RotationReason),
    /// Rotate when the active key is at least this old; skip if another instance holds the lock.
    RotateIfOlderThan(Duration),
}

/// Retires the active key and makes a new one; returns the new kid. Waits for a rotation running
/// elsewhere to finish first.
pub async fn rotate(
    pool: &AppPool,
    master: impl Into<MasterKeys>,
    reason: RotationReason,
) -> Result<String, KeyError> {
    let aead = Wrapping::derive(&master.into(), AEAD_PURPOSE);
    rotate_with(pool, &aead, reason).await
}

/// Rotates when the active key is older than `config.key_rotation_interval`; returns the new kid,
/// or `None` when not due or another instance is rotating right now.
pub async fn rotate_if_due(
    pool: &AppPool,
    master: impl Into<MasterKeys>,
    config: &AuthConfig,
) -> Result<Option<String>, KeyError> {
    let aead = Wrapping::derive(&master.into(), AEAD_PURPOSE);
    rotate_if_due_with(pool, &aead, config.key_rotation_interval).await
}

pub(super) async fn rotate_with(
    pool: &AppPool,
    aead: &Wrapping,
    reason: RotationReason,
) -> Result<String, KeyError> {
    change(pool, aead, Plan::Rotate(reason))
        .await?
        .ok_or(KeyError::NoActiveKey)
}

pub(super) async fn rotate_if_due_with(
    pool: &AppPool,
    aead: &Wrapping,
    interval: Duration,
) -> Result<Option<String>, KeyError> {
    change(pool, aead, Plan::RotateIfOlderThan(interval)).await
}

/// Makes sure a key is active, creating the first one if needed.
pub(super) async fn ensure_active(pool: &AppPool, aead: &Wrapping) -> Result<(), KeyError> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)")
            .fetch_one(pool.platform().pool())
            .await?;
    if !exists {
        change(pool, aead, Plan::CreateIfMissing).await?;
    }
    Ok(())
}

async fn change(pool: &AppPool, aead: &Wrapping, plan: Plan) -> Result<Option<String>, KeyError> {
    let mut tx = pool.begin_tenant(OrganizationId::PLATFORM, None).await?;
    if let Plan::RotateIfOlderThan(_) = plan {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext($1))")
            .bind(LOCK)
            .fetch_one(tx.conn())
            .await?;
        if !locked {
            return Ok(None);
        }
    } else {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(LOCK)
            .execute(tx.conn())
            .await?;
    }
    let min_age = match plan {
        Plan::RotateIfOlderThan(interval) => interval.as_secs_f64(),
        Plan::CreateIfMissing | Plan::Rotate(_) => 0.0,
    };
    // Read under the lock: whatever was seen before taking it may be stale.
    let active: Option<(String, bool)> = sqlx::query_as(
        "SELECT kid, created_at <= now() - make_interval(secs => $1) \
         FROM signing_keys WHERE retired_at IS NULL",
    )
    .bind(min_age)
    .fetch_optional(tx.conn())
    .await?;
    let reason = match (plan, &active) {
        (Plan::CreateIfMissing, Some(_)) | (Plan::RotateIfOlderThan(_), Some((_, false))) => {
            return Ok(None);
        }
        (Plan::CreateIfMissing, None) => "initial",
        (Plan::RotateIfOlderThan(_), _) => RotationReason::Scheduled.as_str(),
        (Plan::Rotate(reason), _) => reason.as_str(),
    };
    let previous = active.map(|(kid, _)| kid);

    let key = generate(aead).await?;
    // Retired and created share the transaction's now(): no instant without an active key.
    sqlx::query("UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL")
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, public_key_der, private_key_encrypted, kek_id) \
         VALUES ($1, 'RS256', $2, $3, $4)",
    )
    .bind(&key.kid)
    .bind(&key.public_der)
    .bind(&key.sealed_private)
    .bind(key.kek_id.as_str())
    .execute(tx.conn())
    .await?;
    let event = AuditEvent::new(AuditAction::KeyRotated)
        .with_access_method(AccessMethod::System)
        .with_entity("signing_key", &key.kid)
        .with_details(json!({
            "reason": reason,
            "previousKid": previous,
            "algorithm": "RS256",
            "keyBits": 3072,
        }));
    audit::record(&mut tx, &event).await?;
    tx.commit().await?;

    if previous.is_some() {
        ROTATIONS.fetch_add(1, Ordering::Relaxed);
    }
    tracing::info!(kid = %key.kid, previous_kid = ?previous, reason, "new signing key");
    Ok(Some(key.kid))
}

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Signs new tokens.
    Active,
    /// Retired, still verifies and is still in the JWKS.
    Grace,
    /// Retired longer ago than the grace period: used for nothing.
    Expired,
}

impl KeyStatus {
    /// The name `haven keys list` prints.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Grace => "grace",
            Self::Expired => "expired",
        }
    }
}

/// One row of `haven keys list`: no key material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    /// The key id.
    pub kid: String,
    /// When it was made (and started signing).
    pub created_at: DateTime<Utc>,
    /// When it stopped signing.
    pub retired_at: Option<DateTime<Utc>>,
    /// Its state now.
    pub status: KeyStatus,
}

#[derive(sqlx::FromRow)]
struct ListRow {
    kid: String,
    created_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
    in_grace: Option<bool>,
}

/// Every key, newest first.
pub async fn list(pool: &AppPool, config: &AuthConfig) -> Result<Vec<KeyInfo>, KeyError> {
    let rows: Vec<ListRow> = sqlx::query_as(
        "SELECT kid, created_at, retired_at, \
                retired_at > now() - make_interval(secs => $1) AS in_grace \
         FROM signing_keys ORDER BY created_at DESC, kid",
    )
    .bind(config.key_grace_period.as_secs_f64())
    .fetch_all(pool.platform().pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| KeyInfo {
            status: match (row.retired_at, row.in_grace) {
                (None, _) => KeyStatus::Active,
                (Some(_), Some(true)) => KeyStatus::Grace,
                (Some(_), _) => KeyStatus::Expired,
            },
            kid: row.kid,
            created_at: row.created_at,
            retired_at: row.retired_at,
        })
        .collect())
}
