//! Multi-factor authentication: TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps) and
//! single-use backup codes.
//!
//! A TOTP code is accepted for the current step and one step either side (clock drift), and
//! only once: callers store the step [`verify_totp`] returns and pass it back as
//! `last_used_step`, so a code seen over a shoulder or replayed within its window fails.
//!
//! Backup codes are shown once and stored only as SHA-256 digests of their normalized form. A
//! code carries 50 random bits, so an unsalted fast hash is enough: nobody can enumerate 2^50
//! candidates through the login endpoint, and the digest is looked up by equality (in SQL or
//! with `==`), which is safe because timing reveals at most a prefix of a digest whose preimage
//! the attacker does not know. TOTP codes are compared by totp-rs in constant time.

use std::fmt;

use sha2::{Digest, Sha256};
use totp_rs::{Builder, Totp};
use zeroize::Zeroizing;

/// The issuer authenticator apps show next to the account.
pub const ISSUER: &str = "Haven";
/// How many backup codes an enrolment hands out.
pub const BACKUP_CODE_COUNT: usize = 10;

const STEP_SECONDS: u64 = 30;
/// Steps accepted on either side of the current one.
const SKEW_STEPS: i64 = 1;
/// Crockford's base32, lowercase: no `i`, `l`, `o` or `u`, so nothing reads as `1` or `0`.
const BACKUP_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters per backup code (5 bits each: 50 bits), shown as two groups of five.
const BACKUP_CODE_CHARS: usize = 10;

/// Setting up TOTP failed.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// A stored secret shorter than RFC 4226's 128 bits.
    #[error("the TOTP secret is too short")]
    SecretTooShort,
    /// The account name or issuer cannot go into an `otpauth://` label (it contains `:`).
    #[error("the account name cannot be used in an otpauth URL")]
    InvalidLabel,
}

/// A user's TOTP shared secret. Wiped from memory when dropped; `Debug` shows nothing of it.
#[derive(Clone)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

impl TotpSecret {
    /// A fresh 160-bit secret from the operating system's RNG (RFC 4226's recommended size).
    ///
    /// # Panics
    /// If the operating system's RNG is unavailable.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; 20]);
        getrandom::fill(&mut bytes).expect("the operating system's RNG is unavailable");
        Self(bytes)
    }

    /// A stored secret; at least 128 bits.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MfaError> {
        if bytes.len() < 16 {
            return Err(MfaError::SecretTooShort);
        }
        Ok(Self(Zeroizing::new(bytes.to_vec())))
    }

    /// The raw secret, to be stored (encrypted) and passed to [`verify_totp`].
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32 without padding, for typing into an authenticator app by hand.
    #[must_use]
    pub fn to_base32(&self) -> String {
        totp_rs::Secret::from(self.as_bytes()).to_base32()
    }
}

/// The `otpauth://totp/...` URL an authenticator app reads from a QR code. It contains the
/// secret: never log it.
pub fn otpauth_url(
    secret: &TotpSecret,
    account_email: &str,
    issuer: &str,
) -> Result<String, MfaError> {
    // The label is only shown by the authenticator app, and `:` separates issuer and account
    // in it: an email that contains one (legal in a quoted local part) is shown with `_`.
    let account = account_email.replace(':', "_");
    let totp = Builder::new()
        .with_secret(secret.as_bytes())
        .with_account_name(account)
        .with_issuer(Some(issuer))
        .build()
        .map_err(|_| MfaError::InvalidLabel)?;
    totp.to_url().map_err(|_| MfaError::InvalidLabel)
}

/// Checks a 6-digit `code` (spaces and dashes ignored, as apps show `123 456`) at `now_unix`
/// seconds. Accepts the current step ±1 that is later than `last_used_step`, and returns the
/// matched step, to be stored as the new `last_used_step`. `None`: wrong, expired or replayed.
#[must_use]
pub fn verify_totp(
    secret: &[u8],
    code: &str,
    now_unix: u64,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let code: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let totp = totp(secret)?;
    let current = i64::try_from(now_unix / STEP_SECONDS).ok()?;
    // Oldest first, so a code valid for two steps (a one-in-a-million coincidence) burns the
    // earlier one; steps already used are skipped rather than matched and refused.
    (current - SKEW_STEPS..=current + SKEW_STEPS)
        .filter(|step| last_used_step.is_none_or(|last| *step > last))
        .find(|&step| {
            u64::try_from(step)
                .ok()
                .and_then(|step| step.checked_mul(STEP_SECONDS))
                .and_then(|time| totp.check(&code, time))
                .is_some()
        })
}

/// Haven's TOTP parameters around `secret`, checking exactly one step at a time (the window is
/// walked by [`verify_totp`], which must know which step matched).
fn totp(secret: &[u8]) -> Option<Totp> {
    Builder::new()
        .with_secret(secret)
        .with_digits(6)
        .with_step_duration(STEP_SECONDS)
        .with_skew(0)
        .build()
        .ok()
}

/// [`BACKUP_CODE_COUNT`] distinct fresh backup codes like `7kq2m-x9d0c`, each carrying 50 bits
/// from the operating system's RNG. Show them once, store [`hash_backup_code`] of each.
///
/// # Panics
/// If the operating system's RNG is unavailable.
#[must_use]
pub fn generate_backup_codes() -> Vec<String> {
    let mut codes: Vec<String> = Vec::with_capacity(BACKUP_CODE_COUNT);
    while codes.len() < BACKUP_CODE_COUNT {
        let code = generate_backup_code();
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

fn generate_backup_code() -> String {
    let mut raw = Zeroizing::new([0u8; 8]);
    getrandom::fill(raw.as_mut_slice()).expect("the operating system's RNG is unavailable");
    let bits = Zeroizing::new(u64::from_le_bytes(*raw));
    let mut code = String::with_capacity(BACKUP_CODE_CHARS + 1);
    for index in 0..BACKUP_CODE_CHARS {
        if index == BACKUP_CODE_CHARS / 2 {
            code.push('-');
        }
        let symbol = (*bits >> (5 * index)) & 0b1_1111;
        code.push(char::from(BACKUP_ALPHABET[symbol as usize]));
    }
    code
}

/// A backup code as typed, in canonical form: lowercase, without whitespace, dashes or
/// underscores, with the look-alikes `o` read as `0` and `i`/`l` as `1` (they are not in the
/// alphabet, so a user who typed them meant the digits).
#[must_use]
pub fn normalize_backup_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '_'))
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            other => other,
        })
        .collect()
}

/// Whether `code` could be a backup code (rather than a TOTP code) once normalized.
#[must_use]
pub fn looks_like_backup_code(code: &str) -> bool {
    let code = normalize_backup_code(code);
    code.len() == BACKUP_CODE_CHARS && code.bytes().all(|b| BACKUP_ALPHABET.contains(&b))
}

/// The SHA-256 digest under which a backup code is stored and looked up.
#[must_use]
pub fn hash_backup_code(code: &str) -> [u8; 32] {
    let normalized = Zeroizing::new(normalize_backup_code(code));
    Sha256::digest(normalized.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 secret.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    fn code_at(secret: &[u8], time: u64) -> String {
        totp(secret)
            .expect("valid secret")
            .generate(time)
            .to_string()
    }

    #[test]
    fn the_rfc_6238_sha1_vectors_hold() {
        let eight = Builder::new()
            .with_secret(RFC_SECRET)
            .with_digits(8)
            .build()
            .expect("valid");
        assert_eq!(eight.generate(59).to_string(), "94287082");
        assert_eq!(eight.generate(1_111_111_109).to_string(), "07081804");
        // Six digits are the same value modulo 10^6.
        assert_eq!(code_at(RFC_SECRET, 59), "287082");
        assert_eq!(verify_totp(RFC_SECRET, "287082", 59, None), Some(1));
        assert_eq!(
            verify_totp(RFC_SECRET, "081804", 1_111_111_109, None),
            Some(37_037_036)
        );
    }

    #[test]
    fn codes_of_the_neighbouring_steps_pass_and_farther_ones_fail() {
        // A fixed secret keeps the test deterministic: with a random one, two steps' codes
        // coincide once in a million runs.
        let secret = TotpSecret::from_bytes(RFC_SECRET).expect("160 bits");
        let now = 1_700_000_015; // step 56_666_667
        let step = i64::try_from(now / STEP_SECONDS).expect("fits");
        for offset in [-1_i64, 0, 1] {
            let time = now.checked_add_signed(offset * 30).expect("in range");
            let code = code_at(secret.as_bytes(), time);
            assert_eq!(
                verify_totp(secret.as_bytes(), &code, now, None),
                Some(step + offset),
                "offset {offset}"
            );
        }
        for offset in [-2_i64, 2] {
            let time = now.checked_add_signed(offset * 30).expect("in range");
            let code = code_at(secret.as_bytes(), time);
            assert_eq!(verify_totp(secret.as_bytes(), &code, now, None), None);
        }
        assert_eq!(verify_totp(secret.as_bytes(), "12345", now, None), None);
        assert_eq!(verify_totp(secret.as_bytes(), "abcdef", now, None), None);
    }

    #[test]
    fn a_code_is_accepted_once() {
        // A fixed secret keeps the test deterministic: with a random one, two steps' codes
        // coincide once in a million runs.
        let secret = TotpSecret::from_bytes(RFC_SECRET).expect("160 bits");
        let now = 1_700_000_015;
        let code = code_at(secret.as_bytes(), now);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        let step = verify_totp(secret.as_bytes(), &spaced, now, None).expect("accepted");
        assert_eq!(verify_totp(secret.as_bytes(), &code, now, Some(step)), None);
        assert_eq!(
            verify_totp(secret.as_bytes(), &code, now + 29, Some(step)),
            None
        );
        // An older code after a newer one was used is refused as well.
        let previous = code_at(secret.as_bytes(), now - 30);
        assert_eq!(
            verify_totp(secret.as_bytes(), &previous, now, Some(step)),
            None
        );
        // The next step's code still works.
        let next = code_at(secret.as_bytes(), now + 30);
        assert_eq!(
            verify_totp(secret.as_bytes(), &next, now + 30, Some(step)),
            Some(step + 1)
        );
    }

    #[test]
    fn secrets_are_160_bits_and_round_trip_through_base32_and_the_url() {
        let secret = TotpSecret::generate();
        assert_eq!(secret.as_bytes().len(), 20);
        assert_ne!(secret.as_bytes(), TotpSecret::generate().as_bytes());
        let text = secret.to_base32();
        assert_eq!(text.len(), 32);
        let decoded = totp_rs::Secret::try_from_base32(&text).expect("base32");
        assert_eq!(decoded.as_bytes(), secret.as_bytes());
        let url = otpauth_url(&secret, "alice@example.org", ISSUER).expect("url");
        assert!(
            url.starts_with("otpauth://totp/Haven:alice%40example.org?"),
            "{url}"
        );
        assert!(url.contains(&format!("secret={text}")), "{url}");
        assert!(url.contains("issuer=Haven"), "{url}");
        let odd = otpauth_url(&secret, "\"a:b\"@example.org", ISSUER).expect("a colon is shown");
        assert!(odd.starts_with("otpauth://totp/Haven:"), "{odd}");
        assert!(!format!("{secret:?}").contains(&text));
        assert!(TotpSecret::from_bytes(&[0; 15]).is_err());
    }

    #[test]
    fn backup_codes_are_ten_distinct_well_formed_codes() {
        let codes = generate_backup_codes();
        assert_eq!(codes.len(), BACKUP_CODE_COUNT);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), BACKUP_CODE_COUNT);
        for code in &codes {
            let (left, right) = code.split_once('-').expect("two groups");
            assert_eq!((left.len(), right.len()), (5, 5), "{code}");
            assert!(
                left.bytes()
                    .chain(right.bytes())
                    .all(|b| BACKUP_ALPHABET.contains(&b)),
                "{code}"
            );
            assert!(!code.contains(['i', 'l', 'o', 'u']), "{code}");
            assert!(looks_like_backup_code(code));
        }
        assert!(!looks_like_backup_code("123456"));
    }

    #[test]
    fn backup_codes_hash_the_same_however_they_are_typed() {
        let stored = hash_backup_code("7kq2m-x9d0c");
        for typed in ["7kq2mx9d0c", "7KQ2M-X9D0C", " 7kq2m x9d0c ", "7kq2m_x9dOc"] {
            assert_eq!(hash_backup_code(typed), stored, "{typed}");
        }
        assert_eq!(normalize_backup_code("ab1l-I0o"), "ab11100");
        assert_ne!(hash_backup_code("7kq2m-x9d0d"), stored);
    }
}
