//! Data-key rotation, online.
//!
//! 1. Under the organization's rotation lock, one transaction retires the active data key,
//!    inserts a new one and audits `KEY_ROTATED` (ids only). From its commit on, every writer
//!    encrypts with the new key, because which key is active is read per transaction.
//! 2. Each registered column is walked in batches, each its own short transaction, re-encrypting
//!    the rows whose blob names another key. A first pass skips rows a writer holds
//!    (`SKIP LOCKED`), so it never queues behind requests; a second pass waits for those few.
//!    Readers decrypt whatever they find (the blob names its key), so nothing ever fails.
//!
//! Retired keys are kept: a slow writer that fetched the old key before step 1 and commits after
//! step 2 passed its row leaves a ciphertext under it, which still decrypts and is picked up by
//! the next rotation. A newer rotation starting meanwhile makes this one stop walking (the next
//! batch sees that its key is no longer active); the newer walk covers every row.

use std::sync::Arc;

use serde_json::json;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::{DataKey, FieldRef, Keyring, PhiError};
use crate::audit::{self, AccessMethod, AuditAction, AuditEvent};
use crate::db::AppPool;
use crate::ids::OrganizationId;

/// A bytea column holding PHI ciphertexts, in a tenant table with `organization_id` and `id`
/// (uuid) columns. Names are SQL identifiers: lowercase ASCII letters, digits and `_`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncryptedColumn {
    /// The table.
    pub table: &'static str,
    /// The column.
    pub column: &'static str,
}

/// Every encrypted column, for `rotate_data_key` to re-encrypt. A migration adding a PHI column
/// adds it here in the same change.
pub const ENCRYPTED_COLUMNS: &[EncryptedColumn] = &[
    EncryptedColumn {
        table: "patients",
        column: "first_name",
    },
    EncryptedColumn {
        table: "patients",
        column: "last_name",
    },
    EncryptedColumn {
        table: "patients",
        column: "date_of_birth",
    },
    EncryptedColumn {
        table: "patients",
        column: "medical_record_number",
    },
    EncryptedColumn {
        table: "patients",
        column: "phone_number",
    },
    EncryptedColumn {
        table: "patients",
        column: "email",
    },
    EncryptedColumn {
        table: "authorizations",
        column: "member_id",
    },
    EncryptedColumn {
        table: "waitlist_entries",
        column: "notes",
    },
];

impl EncryptedColumn {
    /// Whether both names are plain lowercase identifiers, so formatting them into SQL (quoted)
    /// can only ever name a table and column.
    fn is_safe(&self) -> bool {
        is_identifier(self.table) && is_identifier(self.column)
    }

    fn field(&self, organization_id: OrganizationId, row: Uuid) -> FieldRef {
        FieldRef {
            organization_id,
            table: self.table,
            column: self.column,
            row,
        }
    }
}

fn is_identifier(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .enumerate()
            .all(|(i, b)| b == b'_' || b.is_ascii_lowercase() || (i > 0 && b.is_ascii_digit()))
}

/// How the walk of one column ended.
enum Walk {
    Done(u64),
    /// A newer rotation made another key active; it re-encrypts everything itself.
    Superseded(u64),
}

/// Retires `org`'s data key, makes a new one and re-encrypts every value of `columns` (normally
/// [`ENCRYPTED_COLUMNS`]) in transactions of at most `batch` rows, while the service runs.
/// Returns how many fields were re-encrypted.
///
/// # Panics
/// If a column's table or column name is not a plain lowercase SQL identifier (a programming
/// error in the registry).
pub async fn rotate_data_key(
    pool: &AppPool,
    keyring: &Keyring,
    org: OrganizationId,
    batch: i64,
    columns: &[EncryptedColumn],
) -> Result<u64, PhiError> {
    for column in columns {
        assert!(column.is_safe(), "not a plain SQL identifier: {column:?}");
    }
    let key = replace_key(pool, keyring, org).await?;
    let mut total = 0;
    for column in columns {
        match reencrypt(pool, keyring, &key, *column, batch.max(1)).await? {
            Walk::Done(count) => total += count,
            Walk::Superseded(count) => {
                tracing::info!(organization_id = %org, key_id = %key.id(),
                    "a newer PHI data-key rotation took over re-encryption");
                return Ok(total + count);
            }
        }
    }
    tracing::info!(organization_id = %org, key_id = %key.id(), reencrypted = total,
        "PHI data-key rotation finished");
    Ok(total)
}

async fn replace_key(
    pool: &AppPool,
    keyring: &Keyring,
    org: OrganizationId,
) -> Result<DataKey, PhiError> {
    let mut tx = pool.begin_tenant(org, None).await?;
    // Two rotations of one organization run one after the other, each retiring the key before.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("haven.organization_keys:{org}"))
        .execute(tx.conn())
        .await?;
    let (previous, key) = keyring.replace_data_key(&mut tx).await?;
    let event = AuditEvent::new(AuditAction::KeyRotated)
        .with_access_method(AccessMethod::System)
        .with_entity("organization_key", key.id())
        .with_details(json!({ "purpose": "data", "previousKeyId": previous }));
    audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    tracing::info!(organization_id = %org, key_id = %key.id(), previous_key_id = ?previous,
        "new PHI data key");
    Ok(key)
}

async fn reencrypt(
    pool: &AppPool,
    keyring: &Keyring,
    key: &DataKey,
    column: EncryptedColumn,
    batch: i64,
) -> Result<Walk, PhiError> {
    let org = key.organization_id();
    let (table, col) = (column.table, column.column);
    // Safe to format: the names are `&'static str` constants (the registry, or a test's table),
    // checked to be plain identifiers (`is_safe`, asserted by the caller) and quoted besides;
    // every value is a bind parameter.
    let select = |lock: &str| -> Arc<str> {
        format!(
            "SELECT id, \"{col}\" FROM \"{table}\" \
             WHERE organization_id = $1 AND \"{col}\" IS NOT NULL \
               AND substring(\"{col}\" from 2 for 16) <> $2 \
               AND ($4::uuid IS NULL OR id > $4) \
             ORDER BY id LIMIT $3 FOR UPDATE {lock}"
        )
        .into()
    };
    let update: Arc<str> = format!(
        "UPDATE \"{table}\" AS t SET \"{col}\" = v.blob \
         FROM unnest($2::uuid[], $3::bytea[]) AS v(id, blob) \
         WHERE t.organization_id = $1 AND t.id = v.id"
    )
    .into();
    let key_id = key.id().as_bytes().to_vec();
    let mut done = 0;
    // First skip rows that writers hold, then wait for them: nothing committed before the
    // rotation stays under the old key, and the bulk of the walk never queues behind a request.
    for select in [select("SKIP LOCKED"), select("")] {
        let mut after: Option<Uuid> = None;
        loop {
            let mut tx = pool.begin_tenant(org, None).await?;
            if keyring.data_key(&mut tx).await?.id() != key.id() {
                return Ok(Walk::Superseded(done));
            }
            let rows: Vec<(Uuid, Vec<u8>)> = sqlx::query_as(AssertSqlSafe(Arc::clone(&select)))
                .bind(org)
                .bind(&key_id)
                .bind(batch)
                .bind(after)
                .fetch_all(tx.conn())
                .await?;
            let Some((last, _)) = rows.last() else {
                break;
            };
            after = Some(*last);
            let mut ids = Vec::with_capacity(rows.len());
            let mut blobs = Vec::with_capacity(rows.len());
            for (id, blob) in rows {
                let field = column.field(org, id);
                let plaintext = keyring.decrypt(&mut tx, &field, &blob).await?;
                blobs.push(key.encrypt(&field, &plaintext));
                ids.push(id);
            }
            let updated = sqlx::query(AssertSqlSafe(Arc::clone(&update)))
                .bind(org)
                .bind(&ids)
                .bind(&blobs)
                .execute(tx.conn())
                .await?
                .rows_affected();
            tx.commit().await?;
            done += updated;
        }
    }
    Ok(Walk::Done(done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_holds_only_plain_identifiers() {
        assert!(ENCRYPTED_COLUMNS.iter().all(EncryptedColumn::is_safe));
    }

    #[test]
    fn names_that_could_break_out_of_quotes_are_refused() {
        let ok = EncryptedColumn {
            table: "patients",
            column: "last_name2",
        };
        assert!(ok.is_safe());
        for bad in [
            "",
            "Patients",
            "a\"b",
            "a b",
            "x;drop",
            "2col",
            &"a".repeat(64),
        ] {
            let bad: &'static str = Box::leak(bad.to_owned().into_boxed_str());
            assert!(!EncryptedColumn { table: bad, ..ok }.is_safe(), "{bad:?}");
        }
    }
}
