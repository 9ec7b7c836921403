//! The sealer: moves recorded events from the outbox into the hash-chained log.
//!
//! Why not chain at insert time? Giving each event its sequence number and hash inside the
//! request's transaction would hold the organization's chain head locked from the insert until
//! the commit (fsync included): every audited request of one practice would queue behind the
//! previous one. Instead requests only append to `audit_outbox` (no shared lock, so concurrent
//! requests of one organization commit in parallel and group-commit together), and one sealer
//! at a time (an advisory lock) chains committed events in batches of up to [`BATCH`]: in one
//! transaction it reads them (`haven_audit.pending`, rows locked) and their chains' heads,
//! numbers them gaplessly per organization and hashes them here (see [`super::chain`]), and
//! `haven_audit.append` moves them from the outbox into the log set-based, refusing a batch that
//! does not continue every chain exactly. An event is durable from its request's commit and
//! sealed within about [`SEAL_INTERVAL`]; a crash loses nothing (unsealed events wait in the
//! outbox for the next sealer).
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

use uuid::Uuid;

use super::chain::{GENESIS, SealedRow, expected_hash};
use crate::crypto::MasterKey;
use crate::db::AppPool;
use crate::ids::OrganizationId;

/// The advisory lock that makes one sealer at a time.
const SEALER_LOCK: i64 = 7_236_327_706_281_771_776;

/// How often the background sealer runs.
pub const SEAL_INTERVAL: Duration = Duration::from_millis(200);
/// The most events one sealing transaction takes.
pub const BATCH: i32 = 5_000;
/// At most one checkpoint per organization this often.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(30);

fn parse_ids<'a>(texts: impl Iterator<Item = &'a str>) -> Result<Vec<Uuid>, sqlx::Error> {
    texts
        .map(|t| Uuid::parse_str(t).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .collect()
}

/// Signs and checks checkpoints of chain heads.
#[derive(Clone)]
pub struct CheckpointKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckpointKey([REDACTED])")
    }
}

impl CheckpointKey {
    /// The checkpoint key derived from `master`: the deployment's key as long as `master` is
    /// the key it started with (see `crate::kek::secrets`, which stores it so that it outlives
    /// a master-key rotation; the application takes it from there).
    #[must_use]
    pub fn new(master: &MasterKey) -> Self {
        Self(master.derive("audit-checkpoints"))
    }

    /// The checkpoint key itself (as stored in `wrapped_secrets`).
    #[must_use]
    pub fn from_bytes(key: Zeroizing<[u8; 32]>) -> Self {
        Self(key)
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
    /// A sealer over `pool`, signing checkpoints with the key derived from `master` (see
    /// [`CheckpointKey::new`]).
    #[must_use]
    pub fn new(pool: AppPool, master: &MasterKey) -> Self {
        Self::with_key(pool, CheckpointKey::new(master))
    }

    /// A sealer over `pool`, signing checkpoints with `key`.
    #[must_use]
    pub fn with_key(pool: AppPool, key: CheckpointKey) -> Self {
        Self {
            pool,
            key,
            last_checkpoint: Arc::default(),
        }
    }

    /// The key checkpoints are signed with.
    #[must_use]
    pub fn checkpoint_key(&self) -> &CheckpointKey {
        &self.key
    }

    /// One sealing transaction. With `wait`, waits for another sealer to finish instead of
    /// skipping. Returns the number of chains extended (0: nothing pending, or busy elsewhere).
    pub async fn seal_batch(
        &self,
        wait: bool,
        force_checkpoint: bool,
    ) -> Result<usize, sqlx::Error> {
        let mut tx = self.pool.platform().begin().await?;
        let locked: bool = if wait {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(SEALER_LOCK)
                .execute(&mut *tx)
                .await?;
            true
        } else {
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(SEALER_LOCK)
                .fetch_one(&mut *tx)
                .await?
        };
        if !locked {
            return Ok(0);
        }
        let mut rows: Vec<SealedRow> = sqlx::query_as(
            "SELECT organization_id, id, occurred_at_us, user_id, role, action, entity_type, \
                    entity_id, patient_id, access_method, outcome, ip, user_agent, request_id, \
                    details, 0::bigint AS sequence, ''::bytea AS prev_hash, ''::bytea AS hash \
             FROM haven_audit.pending($1)",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        let orgs = parse_ids(rows.iter().map(|r| r.organization_id.as_str()))?;
        let mut distinct = orgs.clone();
        distinct.dedup();
        let heads: HashMap<Uuid, (i64, Vec<u8>)> = sqlx::query_as::<_, (Uuid, i64, Vec<u8>)>(
            "SELECT organization_id, last_sequence, last_hash FROM haven_audit.heads($1)",
        )
        .bind(&distinct)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(org, seq, hash)| (org, (seq, hash)))
        .collect();

        // Rows come grouped by organization, oldest first: chain each group from its head.
        let mut chained: Vec<(OrganizationId, i64, Vec<u8>)> = Vec::new();
        let (mut seqs, mut prevs, mut hashes) = (Vec::new(), Vec::new(), Vec::new());
        let mut current: Option<(Uuid, i64, [u8; 32])> = None;
        for (row, org) in rows.iter_mut().zip(&orgs) {
            let (_, seq, prev) = match current {
                Some(state) if state.0 == *org => state,
                _ => {
                    if let Some((done, seq, hash)) = current {
                        chained.push((OrganizationId::from_uuid(done), seq, hash.to_vec()));
                    }
                    let (seq, hash) = heads.get(org).cloned().unwrap_or((0, GENESIS.to_vec()));
                    (*org, seq, hash.try_into().unwrap_or(GENESIS))
                }
            };
            row.sequence = seq + 1;
            let hash = expected_hash(&prev, row);
            seqs.push(row.sequence);
            prevs.push(prev.to_vec());
            hashes.push(hash.to_vec());
            current = Some((*org, row.sequence, hash));
        }
        if let Some((done, seq, hash)) = current {
            chained.push((OrganizationId::from_uuid(done), seq, hash.to_vec()));
        }
        let ids = parse_ids(rows.iter().map(|r| r.id.as_str()))?;
        sqlx::query("SELECT haven_audit.append($1, $2, $3, $4, $5)")
            .bind(&orgs)
            .bind(&ids)
            .bind(&seqs)
            .bind(&prevs)
            .bind(&hashes)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;

        for (organization, sequence, hash) in &chained {
            if force_checkpoint || self.checkpoint_due(*organization) {
                self.checkpoint(*organization, *sequence, hash).await?;
            }
        }
        Ok(chained.len())
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

    /// Runs in the background: seals every [`SEAL_INTERVAL`] (at once again while there is a
    /// backlog), and keeps partitions ahead daily.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut last_partition_check: Option<Instant> = None;
            loop {
                if last_partition_check.is_none_or(|t| t.elapsed() > Duration::from_secs(86_400)) {
                    match self.ensure_partitions().await {
                        Ok(()) => last_partition_check = Some(Instant::now()),
                        Err(error) => {
                            tracing::warn!(error = %crate::telemetry::loggable(&error), "creating audit partitions failed")
                        }
                    }
                }
                match self.seal_batch(false, false).await {
                    // Sealed something: there may be a backlog, go again without waiting.
                    Ok(extended) if extended > 0 => continue,
                    Ok(_) => {}
                    Err(error) => {
                        tracing::error!(error = %crate::telemetry::loggable(&error), "sealing audit events failed; will retry")
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
