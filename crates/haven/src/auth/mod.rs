//! Authentication: passwords (Argon2id on a bounded pool, legacy bcrypt, the NIST policy),
//! RS256 access tokens under rotating signing keys and their immediate revocation, TOTP MFA, session cookies with CSRF tokens,
//! and [`caller::Caller`], the plain data of who is calling (its extractor is
//! `crate::http::caller`).

pub mod caller;
pub mod cookies;
pub mod dpop;
pub mod keys;
pub mod mfa;
pub mod mfa_gate;
pub mod password;
pub mod revocation;
pub mod token;
