//! The practice's signing key: an HMAC-SHA256 over the exact bytes of what a clinician signed
//! (a note version, an addendum), stored beside the signature with the key's id. Anyone holding
//! the database alone cannot forge or re-point a signature; Haven recomputes it on every read.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

use super::cache::KeyBytes;
use crate::ids::OrganizationId;

/// An organization's signing key, unwrapped. Redacted in `Debug`.
#[derive(Clone)]
pub struct SigningKey {
    organization_id: OrganizationId,
    id: Uuid,
    key: KeyBytes,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("organization_id", &self.organization_id)
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl SigningKey {
    pub(super) fn new(organization_id: OrganizationId, id: Uuid, key: KeyBytes) -> Self {
        Self {
            organization_id,
            id,
            key,
        }
    }

    /// The key's id, stored with every signature it makes.
    #[must_use]
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The MAC of `parts`, each length-prefixed so no two lists of parts feed the same bytes.
    #[must_use]
    pub fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(self.organization_id.as_uuid().as_bytes());
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the MAC of `parts` (compared in constant time).
    #[must_use]
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(self.organization_id.as_uuid().as_bytes());
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.verify_slice(tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use zeroize::Zeroizing;

    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::new(
            OrganizationId::new(),
            Uuid::now_v7(),
            Arc::new(Zeroizing::new([byte; 32])),
        )
    }

    #[test]
    fn a_signature_verifies_only_for_the_same_parts() {
        let key = key(7);
        let tag = key.sign(&[b"note", b"v1", b"text"]);
        assert!(key.verify(&[b"note", b"v1", b"text"], &tag));
        assert!(!key.verify(&[b"note", b"v1", b"text!"], &tag));
        assert!(!key.verify(&[b"notev1", b"text"], &tag));
        assert!(!self::key(8).verify(&[b"note", b"v1", b"text"], &tag));
        assert!(format!("{key:?}").contains("REDACTED"));
    }
}
