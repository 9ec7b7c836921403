//! Server nonces for DPoP proofs at login and refresh (RFC 9449 §8): an HMAC, under the
//! deployment's nonce key (stored wrapped by the master key), of a five-minute time bucket. Every
//! instance holds the same key, so a nonce one instance gave out is accepted by all, without shared state. The current
//! bucket's nonce and the previous one's are accepted: a nonce lives five to ten minutes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The length of a bucket, in seconds.
pub const BUCKET_SECS: i64 = 300;

/// The nonce key.
pub struct Nonces {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nonces([REDACTED])")
    }
}

impl Nonces {
    /// The nonce key of this deployment (stored wrapped: see `crate::kek::secrets`).
    #[must_use]
    pub fn new(key: Zeroizing<[u8; 32]>) -> Self {
        Self { key }
    }

    fn tag(&self, bucket: i64) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(&bucket.to_be_bytes());
        mac.finalize().into_bytes().into()
    }

    fn for_bucket(&self, bucket: i64) -> String {
        let mut bytes = Vec::with_capacity(8 + 16);
        bytes.extend_from_slice(&bucket.to_be_bytes());
        bytes.extend_from_slice(&self.tag(bucket)[..16]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The nonce to hand out at Unix time `now`.
    #[must_use]
    pub fn current(&self, now: i64) -> String {
        self.for_bucket(now.div_euclid(BUCKET_SECS))
    }

    /// Whether `nonce` is the current bucket's or the previous one's at Unix time `now`.
    #[must_use]
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Some((bucket, tag)) = bytes.split_first_chunk::<8>() else {
            return false;
        };
        let bucket = i64::from_be_bytes(*bucket);
        let current = now.div_euclid(BUCKET_SECS);
        if bucket != current && bucket != current - 1 {
            return false;
        }
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(&bucket.to_be_bytes());
        tag.len() == 16 && mac.verify_truncated_left(tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::{BUCKET_SECS, Nonces};
    use crate::crypto::MasterKey;

    #[test]
    fn a_nonce_lives_for_its_bucket_and_the_next() {
        let key = || {
            MasterKey::from_base64(&MasterKey::generate_base64())
                .expect("key")
                .derive("dpop-nonce")
        };
        let (nonces, other) = (Nonces::new(key()), Nonces::new(key()));
        let t = 1_800_000_000;
        let nonce = nonces.current(t);
        assert!(nonces.accepts(&nonce, t));
        assert!(nonces.accepts(&nonce, t + BUCKET_SECS));
        assert!(!nonces.accepts(&nonce, t + 2 * BUCKET_SECS));
        assert!(!nonces.accepts(&nonce, t - BUCKET_SECS));
        assert!(!other.accepts(&nonce, t), "another deployment's key");
        assert!(!nonces.accepts("not-a-nonce", t));
        let mut forged = nonce.clone();
        forged.replace_range(forged.len() - 2.., "AA");
        assert!(!nonces.accepts(&forged, t));
    }
}
