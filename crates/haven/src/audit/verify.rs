//! Verifying an organization's chain: every row re-hashed in sequence order, and the chain
//! compared with its signed checkpoints (a chain that ends before a checkpoint lost its tail).

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use serde::Serialize;

use super::chain::{ChainWalker, SEALED_COLUMNS, SealedRow};
use super::seal::CheckpointKey;
use crate::db::TenantTx;

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

/// Verifies the chain of the transaction's organization, streaming it. The walk is one
/// statement as long as the chain, so it lifts the pool's statement timeout for `tx`
/// ([`TenantTx::allow_long_statements`]).
pub async fn verify_chain(
    tx: &mut TenantTx,
    key: &CheckpointKey,
) -> Result<ChainReport, sqlx::Error> {
    tx.allow_long_statements().await?;
    let organization = tx.organization_id();
    let checkpoints: Vec<(i64, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT sequence, hash, signature FROM audit_checkpoints WHERE organization_id = $1 ORDER BY sequence",
    )
    .bind(organization)
    .fetch_all(tx.conn())
    .await?;
    let mut walker = ChainWalker::default();
    // Only genuine checkpoints count; a forged one breaks the chain where it claims to be.
    let mut expected: BTreeMap<i64, Vec<u8>> = BTreeMap::new();
    for (sequence, hash, signature) in checkpoints {
        if key.verify(organization, sequence, &hash, &signature) {
            expected.insert(sequence, hash);
        } else {
            walker.break_at(sequence);
        }
    }

    let sql = format!(
        "SELECT {SEALED_COLUMNS} FROM audit_log WHERE organization_id = $1 ORDER BY sequence"
    );
    let mut rows = sqlx::query_as::<_, SealedRow>(sqlx::AssertSqlSafe(sql))
        .bind(organization)
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
    drop(rows);
    let (head, _) = walker.head();
    if let Some((&last_checkpoint, _)) = expected.last_key_value()
        && last_checkpoint > head
    {
        walker.break_at(head + 1);
    }
    let broken = walker.broken_at();
    Ok(ChainReport {
        valid: broken.is_none(),
        checked_entries: walker.checked(),
        first_broken_sequence: broken,
    })
}
