//! The sealer: moves recorded events from the outbox into the hash-chained log.
//!
//! Why not chain at insert time? Giving each event its sequence number and hash inside the
//! request's transaction would hold the organization's chain head locked from the insert until
//! the commit (fsync included): every audited request of one practice would queue behind the
//! previous one. Instead requests only append to `audit_outbox` (no shared lock, so concurrent
//! requests of one organization commit in parallel and group-commit together), and one sealer
//! at a time (`haven_audit.seal_pending`, under an advisory lock) chains committed events in
//! batches of up to 5,000: one transaction takes them out of the outbox, numbers them gaplessly
//! per organization, hashes them and appends them to the log. An event is durable from its
//! request's commit; it is sealed within about [`SEAL_INTERVAL`]. Nothing is lost in a crash:
//! unsealed events wait in the outbox for the next sealer.
//!
//! After sealing, the sealer records signed checkpoints of the chain heads (at most one per
//! organization per [`CHECKPOINT_INTERVAL`]), so that cutting off a chain's tail is detected.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::crypto::MasterKey;
use crate::db::AppPool;
use crate::ids::OrganizationId;

/// How often the background sealer runs.
pub const SEAL_INTERVAL: Duration = Duration::from_millis(200);
/// The most events one sealing transaction takes.
pub const BATCH: i32 = 5_000;
/// At most one checkpoint per organization this often.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(30);

/// Signs and checks checkpoints of chain heads.
#[derive(Clone)]
pub struct CheckpointKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckpointKey([REDACTED])")
    }
}

impl CheckpointKey {
    /// The deployment's checkpoint key, derived from the master key.
    #[must_use]
    pub fn new(master: &MasterKey) -> Self {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(master.expose())
            .expect("HMAC takes keys of any length");
        mac.update(b"haven/kdf/v1/audit-checkpoints");
        let mut key = [0u8; 32];
        key.copy_from_slice(&mac.finalize().into_bytes());
        Self(Zeroizing::new(key))
    }

    fn mac(&self, organization: OrganizationId, sequence: i64, hash: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(organization.as_uuid().as_bytes());
        mac.update(&sequence.to_be_bytes());
        mac.update(hash);
        mac
    }

    /// The signature of a chain head.
    #[must_use]
    pub fn sign(&self, organization: OrganizationId, sequence: i64, hash: &[u8]) -> Vec<u8> {
        self.mac(organization, sequence, hash)
            .finalize()
            .into_bytes()
            .to_vec()
    }

    /// Whether `signature` is that of the chain head (constant-time).
    #[must_use]
    pub fn verify(
        &self,
        organization: OrganizationId,
        sequence: i64,
        hash: &[u8],
        signature: &[u8],
    ) -> bool {
        self.mac(organization, sequence, hash)
            .verify_slice(signature)
            .is_ok()
    }
}

/// Seals the outbox into the log.
#[derive(Debug, Clone)]
pub struct Sealer {
    pool: AppPool,
    key: CheckpointKey,
    last_checkpoint: Arc<Mutex<HashMap<OrganizationId, Instant>>>,
}

impl Sealer {
    /// A sealer over `pool`.
    #[must_use]
    pub fn new(pool: AppPool, master: &MasterKey) -> Self {
        Self {
            pool,
            key: CheckpointKey::new(master),
            last_checkpoint: Arc::default(),
        }
    }

    /// One sealing transaction. With `wait`, waits for another sealer to finish instead of
    /// skipping. Returns the number of chains extended (0: nothing pending, or busy elsewhere).
    pub async fn seal_batch(
        &self,
        wait: bool,
        force_checkpoint: bool,
    ) -> Result<usize, sqlx::Error> {
        let heads: Vec<(OrganizationId, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT organization_id, last_sequence, last_hash FROM haven_audit.seal_pending($1, $2)",
        )
        .bind(BATCH)
        .bind(wait)
        .fetch_all(self.pool.platform().pool())
        .await?;
        for (organization, sequence, hash) in &heads {
            if force_checkpoint || self.checkpoint_due(*organization) {
                self.checkpoint(*organization, *sequence, hash).await?;
            }
        }
        Ok(heads.len())
    }

    /// Seals everything committed so far (waiting for a concurrent sealer), checkpointing every
    /// chain it extends. Used before reading the log, so readers see every committed event.
    pub async fn flush(&self) -> Result<(), sqlx::Error> {
        while self.seal_batch(true, true).await? > 0 {}
        Ok(())
    }

    fn checkpoint_due(&self, organization: OrganizationId) -> bool {
        let mut last = self
            .last_checkpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match last.get(&organization) {
            Some(at) if now.duration_since(*at) < CHECKPOINT_INTERVAL => false,
            _ => {
                last.insert(organization, now);
                true
            }
        }
    }

    async fn checkpoint(
        &self,
        organization: OrganizationId,
        sequence: i64,
        hash: &[u8],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin_tenant(organization, None).await?;
        sqlx::query(
            "INSERT INTO audit_checkpoints (organization_id, sequence, hash, signature) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(organization)
        .bind(sequence)
        .bind(hash)
        .bind(self.key.sign(organization, sequence, hash))
        .execute(tx.conn())
        .await?;
        tx.commit().await
    }

    /// Creates the next months' partitions ahead of time.
    pub async fn ensure_partitions(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT haven_audit.ensure_partitions((now() - interval '1 month')::date, 4)")
            .execute(self.pool.platform().pool())
            .await
            .map(drop)
    }

    /// Runs in the background: seals every [`SEAL_INTERVAL`] (again at once while batches come
    /// back full), and keeps partitions ahead daily.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut last_partition_check: Option<Instant> = None;
            loop {
                if last_partition_check.is_none_or(|t| t.elapsed() > Duration::from_secs(86_400)) {
                    match self.ensure_partitions().await {
                        Ok(()) => last_partition_check = Some(Instant::now()),
                        Err(error) => tracing::warn!(%error, "creating audit partitions failed"),
                    }
                }
                match self.seal_batch(false, false).await {
                    Ok(_) => {}
                    Err(error) => {
                        tracing::error!(%error, "sealing audit events failed; will retry")
                    }
                }
                tokio::time::sleep(SEAL_INTERVAL).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_signatures_bind_every_field() {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).expect("rng");
        use base64::Engine;
        let master = MasterKey::from_base64(&base64::engine::general_purpose::STANDARD.encode(raw))
            .expect("key");
        let key = CheckpointKey::new(&master);
        let org = OrganizationId::new();
        let signature = key.sign(org, 7, &[1; 32]);
        assert!(key.verify(org, 7, &[1; 32], &signature));
        assert!(!key.verify(org, 8, &[1; 32], &signature));
        assert!(!key.verify(org, 7, &[2; 32], &signature));
        assert!(!key.verify(OrganizationId::new(), 7, &[1; 32], &signature));
    }
}
