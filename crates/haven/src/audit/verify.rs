//! Verifying an organization's chain: every row re-hashed in sequence order, and the chain
//! compared with its signed checkpoints (a chain that ends before a checkpoint lost its tail).

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use serde::Serialize;

use std::sync::Arc;

use super::chain::{ChainWalker, STORED_COLUMNS, StoredRow};
use super::seal::CheckpointKey;
use crate::db::{AppPool, TenantTx};
use crate::ids::OrganizationId;

/// The result, as `GET /api/audit-logs/verify` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    /// Whether the whole chain is intact.
    pub valid: bool,
    /// Rows checked and found intact.
    pub checked_entries: u64,
    /// The first sequence that is missing, altered or out of place (only when not valid).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub first_broken_sequence: Option<i64>,
}

/// The organization's genuine checkpoints (sequence → hash); a forged one marks a break in
/// `walker` where it claims to be.
async fn checkpoints(
    tx: &mut TenantTx,
    key: &CheckpointKey,
    walker: &mut ChainWalker,
) -> Result<BTreeMap<i64, Vec<u8>>, sqlx::Error> {
    let organization = tx.organization_id();
    let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT sequence, hash, signature FROM audit_checkpoints WHERE organization_id = $1 ORDER BY sequence",
    )
    .bind(organization)
    .fetch_all(tx.conn())
    .await?;
    let mut expected = BTreeMap::new();
    for (sequence, hash, signature) in rows {
        if key.verify(organization, sequence, &hash, &signature) {
            expected.insert(sequence, hash);
        } else {
            walker.break_at(sequence);
        }
    }
    Ok(expected)
}

/// Streams the rows `from..=to` of the transaction's organization into `walker`, comparing
/// them with the checkpoints, until the range ends or the chain breaks.
async fn walk(
    tx: &mut TenantTx,
    (from, to): (i64, i64),
    expected: &BTreeMap<i64, Vec<u8>>,
    walker: &mut ChainWalker,
) -> Result<(), sqlx::Error> {
    let organization = tx.organization_id();
    let sql = format!(
        "SELECT {STORED_COLUMNS} FROM audit_log \
         WHERE organization_id = $1 AND sequence BETWEEN $2 AND $3 ORDER BY sequence"
    );
    let mut rows = sqlx::query_as::<_, StoredRow>(sqlx::AssertSqlSafe(sql))
        .bind(organization)
        .bind(from)
        .bind(to)
        .fetch(tx.conn());
    while let Some(row) = rows.try_next().await? {
        if !walker.push(&row) {
            break;
        }
        if expected
            .get(&row.sequence)
            .is_some_and(|hash| *hash != row.hash)
        {
            walker.break_at(row.sequence);
            break;
        }
    }
    Ok(())
}

/// Where a chain intact up to `head` breaks because it ends before its last genuine
/// checkpoint (it lost its tail), if it does.
fn lost_tail(head: i64, expected: &BTreeMap<i64, Vec<u8>>) -> Option<i64> {
    expected
        .last_key_value()
        .and_then(|(&last_checkpoint, _)| (last_checkpoint > head).then_some(head + 1))
}

/// The walker's report, with a lost tail counted as a break.
fn report(mut walker: ChainWalker, expected: &BTreeMap<i64, Vec<u8>>) -> ChainReport {
    if let Some(at) = lost_tail(walker.head().0, expected) {
        walker.break_at(at);
    }
    let broken = walker.broken_at();
    ChainReport {
        valid: broken.is_none(),
        checked_entries: walker.checked(),
        first_broken_sequence: broken,
    }
}

/// Verifies the chain of the transaction's organization, streaming it. The walk is one
/// statement as long as the chain, so it lifts the pool's statement timeout for `tx`
/// ([`TenantTx::allow_long_statements`]).
pub async fn verify_chain(
    tx: &mut TenantTx,
    key: &CheckpointKey,
) -> Result<ChainReport, sqlx::Error> {
    tx.allow_long_statements().await?;
    let mut walker = ChainWalker::default();
    let expected = checkpoints(tx, key, &mut walker).await?;
    walk(tx, (1, i64::MAX), &expected, &mut walker).await?;
    Ok(report(walker, &expected))
}

/// Rows per segment below which [`verify_chain_in_segments`] does not split further.
const MIN_SEGMENT: i64 = 50_000;

/// Verifies `organization`'s chain in up to `segments` parallel segments, each streamed by its
/// own transaction: every row carries its `prev_hash`, so a segment is re-hashed from its first
/// row's stored `prev_hash`, and the segments are then joined (a segment's first `prev_hash`
/// must be the hash of the previous segment's last row). The rows are immutable, so the
/// segments need no common snapshot; the chain verified is the one up to its highest sequence
/// when the verification started. The report is the same as [`verify_chain`]'s: the first
/// break in sequence order, the rows intact before it.
pub async fn verify_chain_in_segments(
    pool: &AppPool,
    organization: OrganizationId,
    key: &CheckpointKey,
    segments: usize,
) -> Result<ChainReport, sqlx::Error> {
    verify_chain_split(pool, organization, key, segments, MIN_SEGMENT).await
}

/// [`verify_chain_in_segments`] with segments of at least `min_rows` rows (tests split small
/// chains with 1).
pub async fn verify_chain_split(
    pool: &AppPool,
    organization: OrganizationId,
    key: &CheckpointKey,
    segments: usize,
    min_rows: i64,
) -> Result<ChainReport, sqlx::Error> {
    let mut first = pool.begin_tenant(organization, None).await?;
    first.allow_long_statements().await?;
    let mut walker = ChainWalker::default();
    let expected = checkpoints(&mut first, key, &mut walker).await?;
    let last: i64 = sqlx::query_scalar(
        "SELECT coalesce(max(sequence), 0) FROM audit_log WHERE organization_id = $1",
    )
    .bind(organization)
    .fetch_one(first.conn())
    .await?;
    let count = i64::try_from(segments.max(1))
        .unwrap_or(1)
        .min((last / min_rows.max(1)).max(1));
    if count <= 1 || walker.broken_at().is_some() {
        walk(&mut first, (1, i64::MAX), &expected, &mut walker).await?;
        first.commit().await?;
        return Ok(report(walker, &expected));
    }
    first.commit().await?;
    let size = (last + count - 1) / count;
    let expected = Arc::new(expected);
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..count {
        let range = (k * size + 1, ((k + 1) * size).min(last));
        let (pool, expected) = (pool.clone(), Arc::clone(&expected));
        tasks.spawn(async move {
            let mut tx = pool.begin_tenant(organization, None).await?;
            tx.allow_long_statements().await?;
            let mut segment = ChainWalker::segment(range.0);
            walk(&mut tx, range, &expected, &mut segment).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>((k, range, segment))
        });
    }
    let mut done = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(segment) => done.push(segment?),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => return Err(sqlx::Error::PoolClosed),
        }
    }
    done.sort_by_key(|(k, _, _)| *k);
    Ok(join(
        done.into_iter().map(|(_, range, walker)| (range, walker)),
        &expected,
    ))
}

/// Joins segment walkers (in sequence order, with their ranges) into one report: the first
/// break in sequence order, the rows intact before it.
fn join(
    segments: impl Iterator<Item = ((i64, i64), ChainWalker)>,
    expected: &BTreeMap<i64, Vec<u8>>,
) -> ChainReport {
    let mut checked = 0;
    let mut previous: Option<[u8; 32]> = None;
    let mut last_intact = 0;
    for ((start, end), segment) in segments {
        if let (Some(prev), Some(entry)) = (previous, segment.entry_prev())
            && entry != prev
        {
            return broken(checked, start);
        }
        checked += segment.checked();
        if let Some(at) = segment.broken_at() {
            return broken(checked, at);
        }
        let (head, hash) = segment.head();
        if head < end {
            // Rows missing at the end of the segment (or all of it).
            return broken(checked, head.max(start - 1) + 1);
        }
        last_intact = head;
        previous = Some(hash);
    }
    if let Some(at) = lost_tail(last_intact, expected) {
        return broken(checked, at);
    }
    ChainReport {
        valid: true,
        checked_entries: checked,
        first_broken_sequence: None,
    }
}

fn broken(checked: u64, at: i64) -> ChainReport {
    ChainReport {
        valid: false,
        checked_entries: checked,
        first_broken_sequence: Some(at),
    }
}
