//! Session cookies for browser clients (`session: "cookie"` at login), and the CSRF token that
//! unsafe cookie-authenticated requests must echo in `X-CSRF-Token`.
//!
//! The CSRF token is an HMAC of the session id under a key derived from the master key: it
//! needs no storage, is bound to one session, and cannot be computed by a page that can make the
//! browser send the cookies (SameSite=Strict already stops most of those).

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::crypto::MasterKey;

/// The access token cookie.
pub const ACCESS: &str = "haven_access";
/// The refresh token cookie (sent to `/api/auth` only).
pub const REFRESH: &str = "haven_refresh";

/// The value of cookie `name`, if the request has it.
#[must_use]
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value: httpOnly, SameSite=Strict, `Secure` unless `secure` is off (dev).
#[must_use]
pub fn set(name: &str, value: &str, path: &str, max_age: Duration, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        max_age.as_secs()
    );
    HeaderValue::from_str(&cookie).expect("tokens are cookie-safe (base64url and dots)")
}

/// A `Set-Cookie` value that removes cookie `name`.
#[must_use]
pub fn clear(name: &str, path: &str, secure: bool) -> HeaderValue {
    set(name, "", path, Duration::ZERO, secure)
}

/// Issues and checks CSRF tokens.
#[derive(Clone)]
pub struct Csrf {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Csrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Csrf([REDACTED])")
    }
}

impl Csrf {
    /// The CSRF key for this deployment.
    #[must_use]
    pub fn new(master: &MasterKey) -> Self {
        Self {
            key: master.derive("csrf"),
        }
    }

    fn mac(&self, session: Uuid) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(session.as_bytes());
        mac
    }

    /// The token for `session`.
    #[must_use]
    pub fn token(&self, session: Uuid) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(session).finalize().into_bytes())
    }

    /// Whether `presented` is `session`'s token (compared in constant time).
    #[must_use]
    pub fn verify(&self, session: Uuid, presented: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(presented.trim())
            .is_ok_and(|bytes| self.mac(session).verify_slice(&bytes).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; haven_access=tok.en; b=2".parse().expect("h"),
        );
        assert_eq!(get(&headers, ACCESS).as_deref(), Some("tok.en"));
        assert_eq!(get(&headers, REFRESH), None);
    }

    #[test]
    fn set_cookie_is_http_only_and_strict() {
        let value = set(ACCESS, "t", "/", Duration::from_secs(900), true);
        let text = value.to_str().expect("ascii");
        assert!(
            text.contains("HttpOnly")
                && text.contains("SameSite=Strict")
                && text.contains("Secure")
        );
        let dev = set(ACCESS, "t", "/", Duration::from_secs(900), false);
        assert!(!dev.to_str().expect("ascii").contains("Secure"));
    }
}
