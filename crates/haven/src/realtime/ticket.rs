//! Realtime tickets: the only credential a WebSocket upgrade carries (a token never travels in
//! a URL). A ticket is 32 random bytes with a recognisable prefix; only its SHA-256 is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Every ticket starts with this, so a leaked one is recognisable.
pub const PREFIX: &str = "hrt_";

/// The secret's length once encoded: the prefix and 43 base64url characters.
const ENCODED_LEN: usize = PREFIX.len() + 43;

/// A new ticket's secret (for the client, once) and its hash (for the database).
pub fn generate() -> Result<(Zeroizing<String>, [u8; 32]), getrandom::Error> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut())?;
    let secret = Zeroizing::new(format!(
        "{PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes.as_ref())
    ));
    let hash = hash(&secret);
    Ok((secret, hash))
}

/// The stored form of `secret`.
#[must_use]
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `value` has a ticket's shape (anything else is refused without a query).
#[must_use]
pub fn looks_like_ticket(value: &str) -> bool {
    value.len() == ENCODED_LEN
        && value.starts_with(PREFIX)
        && value[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_ticket_has_the_shape_and_hashes_to_what_is_stored() {
        let (secret, stored) = generate().expect("random");
        assert!(looks_like_ticket(&secret));
        assert_eq!(hash(&secret), stored);
        assert!(!looks_like_ticket("eyJhbGciOiJFZERTQSJ9.e30.sig"));
    }
}
