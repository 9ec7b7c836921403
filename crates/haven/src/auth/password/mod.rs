//! Passwords: Argon2id hashing (RFC 9106) stored as PHC strings, legacy bcrypt verification, and
//! the password policy of NIST SP 800-63B.
//!
//! Request code uses [`PasswordHasher`], which runs every hash on a bounded pool so a flood of
//! logins cannot starve other requests. The free functions below ([`hash`], [`verify`]) are
//! synchronous and CPU-heavy; they serve one-off tools such as bootstrapping the first platform
//! operator, and must be called off the async runtime.

mod hasher;
mod policy;

#[cfg(test)]
mod tests;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};

use crate::config::Argon2Params;

pub use hasher::{PasswordHasher, Verification};
pub use policy::{MAX_LENGTH, MIN_LENGTH, PolicyError, check_password};

/// Hashing failed: invalid parameters, or the hashing pool could not run the job.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;

/// The Argon2id context for `params`. Fails only for parameters argon2 itself refuses, which the
/// configuration never produces.
fn argon2id(params: Argon2Params) -> Result<Argon2<'static>, HashError> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|_| HashError)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with a fresh random salt into a PHC string, with the default (minimum)
/// parameters. CPU-heavy (tens of milliseconds): call it off the async runtime.
pub fn hash(password: &SecretString) -> Result<String, HashError> {
    argon2id(Argon2Params::default())?
        .hash_password(password.expose_secret().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|_| HashError)
}

/// Whether `password` matches `stored`: an Argon2 PHC string or a legacy bcrypt hash; anything
/// else never matches. CPU-heavy, like [`hash`], and without the dummy work that keeps
/// [`PasswordHasher::verify`] uniform in time, so not for login.
#[must_use]
pub fn verify(password: &SecretString, stored: &str) -> bool {
    hasher::check(
        Argon2Params::default(),
        password.expose_secret().as_bytes(),
        stored,
        None,
    )
    .is_some_and(|verification| verification.matches)
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
