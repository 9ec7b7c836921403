//! One encrypted PHI field.
//!
//! Blob layout: `version (1 byte = 1) ‖ key id (16 bytes) ‖ nonce (12 bytes) ‖ ciphertext ‖ tag
//! (16 bytes)`, AES-256-GCM under the organization's data key, with associated data
//! `phi:v1:<org uuid>:<table>:<column>:<row uuid>`. The key id travels in the clear so a reader
//! knows which key to fetch after a rotation (and rotation can find the rows still under an old
//! key with `substring(col from 2 for 16)`); it need not be authenticated, because naming any
//! other key only makes the tag fail.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

use super::cache::KeyBytes;
use super::{FieldRef, PhiError};
use crate::ids::OrganizationId;

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// An organization's data key, unwrapped: encrypts PHI fields. Cheap to clone (the bytes are
/// shared); zeroized when the last clone and the keyring's cache let go; redacted in `Debug`.
#[derive(Clone)]
pub struct DataKey {
    organization_id: OrganizationId,
    id: Uuid,
    key: KeyBytes,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("organization_id", &self.organization_id)
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl DataKey {
    pub(super) fn new(organization_id: OrganizationId, id: Uuid, key: KeyBytes) -> Self {
        Self {
            organization_id,
            id,
            key,
        }
    }

    /// The key's id, as written into every blob it makes.
    #[must_use]
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The organization the key belongs to.
    #[must_use]
    pub fn organization_id(&self) -> OrganizationId {
        self.organization_id
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(**self.key))
    }

    /// Encrypts `plaintext` for `field` with a fresh random nonce.
    ///
    /// # Panics
    /// If `field` belongs to another organization than this key: such a blob could never be
    /// decrypted (the reader looks the key up in the field's organization), so writing it would
    /// silently lose data.
    #[must_use]
    pub fn encrypt(&self, field: &FieldRef, plaintext: &str) -> Vec<u8> {
        self.seal(field, &aad(field), plaintext)
    }

    /// Encrypts `plaintext` for `field`, bound also to `bound` (a version, an ordinal): the
    /// blob opens only with the same `bound` ([`super::Keyring::decrypt_bound`]).
    ///
    /// # Panics
    /// As [`DataKey::encrypt`].
    #[must_use]
    pub fn encrypt_bound(&self, field: &FieldRef, bound: &str, plaintext: &str) -> Vec<u8> {
        self.seal(field, &bound_aad(field, bound), plaintext)
    }

    fn seal(&self, field: &FieldRef, aad: &str, plaintext: &str) -> Vec<u8> {
        assert_eq!(
            field.organization_id, self.organization_id,
            "a PHI field must be encrypted with its own organization's data key"
        );
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's RNG is unavailable");
        let sealed = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a small buffer cannot fail");
        let mut blob = Vec::with_capacity(HEADER_LEN + sealed.len());
        blob.push(VERSION);
        blob.extend_from_slice(self.id.as_bytes());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        blob
    }
}

/// The associated data: everything that says where the value belongs.
fn aad(field: &FieldRef) -> String {
    format!(
        "phi:v1:{}:{}:{}:{}",
        field.organization_id, field.table, field.column, field.row
    )
}

/// The associated data of a value bound to `bound` besides its place. A UUID holds no `:`, so
/// it never equals the [`aad`] of any field.
fn bound_aad(field: &FieldRef, bound: &str) -> String {
    format!("{}:{bound}", aad(field))
}

/// The id of the key a blob was made with; [`PhiError::Decrypt`] when it is no blob of ours.
pub(super) fn key_id(blob: &[u8]) -> Result<Uuid, PhiError> {
    if blob.len() < HEADER_LEN + TAG_LEN || blob[0] != VERSION {
        return Err(PhiError::Decrypt);
    }
    Uuid::from_slice(&blob[1..=KEY_ID_LEN]).map_err(|_| PhiError::Decrypt)
}

/// Decrypts `blob` of `field` with `key`, for callers that already hold the key (a batch under
/// one key). [`PhiError::UnknownKey`] when the blob was made with another key (fetch that one
/// with [`super::Keyring::key_by_id`], or let [`super::Keyring::decrypt`] do it);
/// [`PhiError::Decrypt`] when it does not authenticate for this field.
pub fn decrypt_with(
    key: &DataKey,
    field: &FieldRef,
    blob: &[u8],
) -> Result<Zeroizing<String>, PhiError> {
    open(key, field, &aad(field), blob)
}

/// As [`decrypt_with`], for a blob made by [`DataKey::encrypt_bound`] with `bound`.
pub(super) fn decrypt_bound_with(
    key: &DataKey,
    field: &FieldRef,
    bound: &str,
    blob: &[u8],
) -> Result<Zeroizing<String>, PhiError> {
    open(key, field, &bound_aad(field, bound), blob)
}

fn open(
    key: &DataKey,
    field: &FieldRef,
    aad: &str,
    blob: &[u8],
) -> Result<Zeroizing<String>, PhiError> {
    if key_id(blob)? != key.id {
        return Err(PhiError::UnknownKey);
    }
    if field.organization_id != key.organization_id {
        return Err(PhiError::Decrypt);
    }
    let (header, sealed) = blob.split_at(HEADER_LEN);
    let nonce: [u8; NONCE_LEN] = header[1 + KEY_ID_LEN..]
        .try_into()
        .map_err(|_| PhiError::Decrypt)?;
    let plaintext = key
        .cipher()
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: sealed,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| PhiError::Decrypt)?;
    match String::from_utf8(plaintext) {
        Ok(text) => Ok(Zeroizing::new(text)),
        // Authentic but not UTF-8 cannot come from `encrypt`; wipe it all the same.
        Err(not_utf8) => {
            not_utf8.into_bytes().zeroize();
            Err(PhiError::Decrypt)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn key(org: OrganizationId) -> DataKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut_slice()).expect("RNG");
        DataKey::new(org, Uuid::now_v7(), Arc::new(bytes))
    }

    fn field(org: OrganizationId) -> FieldRef {
        FieldRef {
            organization_id: org,
            table: "patients",
            column: "last_name",
            row: Uuid::now_v7(),
        }
    }

    #[test]
    fn the_blob_carries_version_and_key_id_and_round_trips() {
        let org = OrganizationId::new();
        let key = key(org);
        let field = field(org);

        let blob = key.encrypt(&field, "Smith");

        assert_eq!(blob[0], VERSION);
        assert_eq!(key_id(&blob).expect("ours"), key.id());
        assert_eq!(blob.len(), HEADER_LEN + "Smith".len() + TAG_LEN);
        assert_eq!(
            decrypt_with(&key, &field, &blob).expect("opens").as_str(),
            "Smith"
        );
    }

    #[test]
    fn truncated_or_foreign_blobs_are_refused() {
        let org = OrganizationId::new();
        let key = key(org);
        let field = field(org);
        let blob = key.encrypt(&field, "x");

        assert!(matches!(
            key_id(&blob[..HEADER_LEN]),
            Err(PhiError::Decrypt)
        ));
        let mut wrong_version = blob.clone();
        wrong_version[0] = 2;
        assert!(matches!(key_id(&wrong_version), Err(PhiError::Decrypt)));
        assert!(matches!(
            decrypt_with(&self::key(org), &field, &blob),
            Err(PhiError::UnknownKey)
        ));
    }

    #[test]
    fn a_bound_blob_opens_only_with_its_bound() {
        let org = OrganizationId::new();
        let key = key(org);
        let field = field(org);

        let blob = key.encrypt_bound(&field, "v1", "text");

        assert_eq!(
            decrypt_bound_with(&key, &field, "v1", &blob)
                .expect("opens")
                .as_str(),
            "text"
        );
        assert!(decrypt_bound_with(&key, &field, "v2", &blob).is_err());
        assert!(decrypt_with(&key, &field, &blob).is_err());
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let key = key(OrganizationId::new());
        let shown = format!("{key:?}");
        assert!(shown.contains("REDACTED"));
        assert!(!shown.contains(&format!("{:?}", **key.key)));
    }
}
