//! PHI at rest (SPEC §5 "Patients"): field-level encryption under per-organization keys, blind
//! indexes for exact look-ups, and data-key rotation.
//!
//! * Each organization has a **data key** (AES-256-GCM) and a **blind-index key** (HMAC-SHA256),
//!   32 random bytes each, stored in `organization_keys` wrapped by a key derived from the master
//!   key, created on first use ([`Keyring`]).
//! * Each PHI field is its own ciphertext ([`DataKey::encrypt`]); the blob names the key it was
//!   made with, so data keys can rotate while old ciphertexts stay readable
//!   ([`Keyring::decrypt`]). The associated data binds it to its organization, table, column and
//!   row ([`FieldRef`]): a ciphertext copied anywhere else fails to decrypt.
//! * Exact, case-insensitive look-ups (MRN, last name) compare [`BlindKey::index`] values.
//! * [`rotate_data_key`] retires the data key, makes a new one and re-encrypts the registered
//!   columns ([`ENCRYPTED_COLUMNS`]) in small batches while the service keeps running.
//!
//! Nothing here logs or formats key bytes or plaintext: `Debug` is redacted, errors are opaque.

mod blind;
mod cache;
mod field;
mod keys;
mod rotate;
mod signing;

use uuid::Uuid;

use crate::ids::OrganizationId;

pub use blind::{BlindKey, normalize_mrn, normalize_name};
pub use field::{DataKey, decrypt_with};
pub use keys::{Keyring, rewrap_organization_keys};
pub use rotate::{ENCRYPTED_COLUMNS, EncryptedColumn, rotate_data_key};
pub use signing::SigningKey;

/// Why PHI could not be read (or a key could not be had). No variant carries plaintext, key
/// bytes or the ciphertext itself.
#[derive(Debug, thiserror::Error)]
pub enum PhiError {
    /// The ciphertext does not open: wrong key, wrong organization/table/column/row, tampered
    /// with, malformed, or its key does not unwrap under this master key. Deliberately one opaque
    /// variant, so a caller cannot probe which.
    #[error("an encrypted field could not be decrypted")]
    Decrypt,
    /// A key is wrapped under a master key this instance does not hold (a master-key rotation
    /// whose new or previous key is not configured here). Names the key's public id only.
    #[error(
        "an organization key is wrapped under master key {0}, which this instance does not hold: \
         configure it as HAVEN_MASTER_KEY_FILE or HAVEN_PREVIOUS_MASTER_KEY_FILE"
    )]
    MasterKeyMissing(crate::crypto::KekId),
    /// The ciphertext names a data key this organization does not have.
    #[error("an encrypted field names a key this organization does not have")]
    UnknownKey,
    /// The key table (or, during rotation, an encrypted table) could not be read or written.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Where one encrypted value lives. It is the associated data of the ciphertext, so the value
/// decrypts only at this organization, table, column and row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldRef {
    /// The tenant the value belongs to.
    pub organization_id: OrganizationId,
    /// The table (e.g. `"patients"`).
    pub table: &'static str,
    /// The column (e.g. `"last_name"`).
    pub column: &'static str,
    /// The row's id.
    pub row: Uuid,
}

/// What an organization key is for; stored in `organization_keys.purpose` and bound into the
/// wrapped key's associated data, so a blind key can never be used as a data key or back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Purpose {
    Data,
    Blind,
    Signing,
}

impl Purpose {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Blind => "blind",
            Self::Signing => "signing",
        }
    }
}
