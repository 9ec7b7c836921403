//! Authenticated encryption of small secrets at rest (TOTP secrets, signing keys, data keys):
//! AES-256-GCM with a random 96-bit nonce and caller-supplied associated data.
//!
//! Blob layout: `version (1 byte) ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`. The
//! associated data binds a blob to where it belongs (e.g. `users.mfa_secret:<user id>`), so a
//! blob copied elsewhere fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use zeroize::Zeroizing;

use super::MasterKey;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A 256-bit AES-GCM key, zeroized on drop.
pub struct AeadKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AeadKey([REDACTED])")
    }
}

/// A blob that does not open: wrong key, wrong associated data, or tampered with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("ciphertext could not be authenticated")]
pub struct AeadError;

impl AeadKey {
    /// Wraps raw key bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Takes a key already in zeroizing storage (no stray copy).
    #[must_use]
    pub fn from_secret(key: Zeroizing<[u8; 32]>) -> Self {
        Self(key)
    }

    /// A key for one `purpose`, derived from the master key (see [`MasterKey::derive`]).
    #[must_use]
    pub fn derive(master: &MasterKey, purpose: &str) -> Self {
        Self(master.derive(purpose))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(*self.0))
    }

    /// Encrypts `plaintext`, bound to `aad`.
    #[must_use]
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's RNG is unavailable");
        let ciphertext = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encryption of a small buffer cannot fail");
        let mut blob = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        blob.push(VERSION);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        blob
    }

    /// Decrypts a blob made by [`AeadKey::seal`] with the same key and `aad`.
    pub fn open(&self, blob: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, AeadError> {
        if blob.len() < 1 + NONCE_LEN + TAG_LEN || blob[0] != VERSION {
            return Err(AeadError);
        }
        let (nonce, ciphertext) = blob[1..].split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| AeadError)?;
        self.cipher()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| AeadError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> AeadKey {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = byte.wrapping_add(u8::try_from(i).expect("small"));
        }
        AeadKey::from_bytes(bytes)
    }

    #[test]
    fn sealed_blobs_open_only_with_the_same_key_and_aad() {
        let blob = key(1).seal(b"totp secret", b"users.mfa_secret:42");
        assert_eq!(blob[0], VERSION);
        assert_eq!(
            key(1)
                .open(&blob, b"users.mfa_secret:42")
                .expect("opens")
                .as_slice(),
            b"totp secret"
        );
        assert_eq!(key(2).open(&blob, b"users.mfa_secret:42"), Err(AeadError));
        assert_eq!(key(1).open(&blob, b"users.mfa_secret:43"), Err(AeadError));
        let mut tampered = blob.clone();
        *tampered.last_mut().expect("non-empty") ^= 1;
        assert_eq!(
            key(1).open(&tampered, b"users.mfa_secret:42"),
            Err(AeadError)
        );
        assert_eq!(
            key(1).open(&blob[..10], b"users.mfa_secret:42"),
            Err(AeadError)
        );
    }

    #[test]
    fn the_same_plaintext_seals_differently_each_time() {
        let k = key(3);
        assert_ne!(k.seal(b"x", b""), k.seal(b"x", b""));
    }

    #[test]
    fn derived_keys_differ_by_purpose() {
        let master = MasterKey::from_base64(&MasterKey::generate_base64()).expect("random key");
        let blob = AeadKey::derive(&master, "a").seal(b"x", b"");
        assert!(AeadKey::derive(&master, "a").open(&blob, b"").is_ok());
        assert!(AeadKey::derive(&master, "b").open(&blob, b"").is_err());
    }
}
