//! Password hashing with Argon2id (RFC 9106), stored as PHC strings.
//!
//! The parameters are OWASP's minimum for Argon2id: m = 19 MiB, t = 2, p = 1.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};

/// Hashing failed (only possible with invalid parameters).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT)
}

/// Hashes `password` with a fresh random salt. CPU-heavy (tens of milliseconds): call it off the
/// async runtime.
pub fn hash(password: &SecretString) -> Result<String, HashError> {
    argon2()
        .hash_password(password.expose_secret().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|_| HashError)
}

/// Whether `password` matches the PHC string `phc`. CPU-heavy, like [`hash`].
#[must_use]
pub fn verify(password: &SecretString, phc: &str) -> bool {
    argon2()
        .verify_password(password.expose_secret().as_bytes(), phc)
        .is_ok()
}

/// A random password for an account nobody chose one for: 24 characters from an alphabet
/// without look-alikes (about 138 bits).
#[must_use]
pub fn generate() -> SecretString {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let password: String = (0..24)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    SecretString::from(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let password = SecretString::from("correct horse battery staple");
        let phc = hash(&password).expect("hashes");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&password, &phc));
        assert!(!verify(&SecretString::from("wrong"), &phc));
        assert!(!verify(&password, "not a hash"));
    }

    #[test]
    fn generated_passwords_differ_and_are_long() {
        let a = generate();
        let b = generate();
        assert_eq!(a.expose_secret().len(), 24);
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
