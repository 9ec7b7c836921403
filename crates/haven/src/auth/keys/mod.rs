//! JWT signing keys (SPEC §5): RSA-3072 pairs in `signing_keys`, the private half sealed under
//! the master key, one active signer at a time, rotated on a schedule and by hand; a retired key
//! keeps verifying (and stays in the JWKS) for the grace period.
//!
//! [`KeyStore`] is each instance's view of the table: the active key for signing and the keys
//! still good for verifying. It re-reads the table periodically ([`KeyStore::spawn_refresher`])
//! and when a token names a kid it does not know, so a key rotated by another instance is picked
//! up without a restart. Issuing and verifying access tokens is in [`crate::auth::token`].

mod generate;
mod jwks;
mod rotation;
mod store;

pub use jwks::{Jwk, JwkSet};
pub use rotation::{
    KeyInfo, KeyStatus, RotationReason, list, rotate, rotate_if_due, rotations_total,
};
pub(crate) use store::VerifyingKey;
pub use store::{KeyStore, legacy_master_key, rewrap_signing_keys};

/// The master-key derivation purpose for sealing private keys (see [`crate::crypto::AeadKey`]).
const AEAD_PURPOSE: &str = "signing-keys";

/// Why the signing keys could not be loaded, created or used. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed.
    #[error("signing keys: database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored key does not open with this master key, or its parts do not match.
    #[error(
        "signing key {0} cannot be opened: wrong master key, or the stored key was tampered with"
    )]
    Corrupt(String),
    /// A stored key is wrapped under a master key this instance does not hold (a master-key
    /// rotation whose new or previous key is not configured here).
    #[error(
        "signing key {kid} is wrapped under master key {kek}, which this instance does not hold: \
         configure it as HAVEN_MASTER_KEY_FILE or HAVEN_PREVIOUS_MASTER_KEY_FILE"
    )]
    MasterKeyMissing {
        /// The key.
        kid: String,
        /// The master key it names.
        kek: crate::crypto::KekId,
    },
    /// The table has no active key (it always should once [`KeyStore::load`] has run).
    #[error("signing keys: no active key")]
    NoActiveKey,
    /// A cryptographic operation failed (names which one).
    #[error("signing keys: {0} failed")]
    Crypto(&'static str),
}
