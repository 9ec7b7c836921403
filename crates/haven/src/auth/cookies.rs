//! Session cookies for browser clients (`session: "cookie"` at login), and the CSRF token that
//! unsafe cookie-authenticated requests must echo in `X-CSRF-Token`.
//!
//! The CSRF token is `<generation>.<mac>`: the id of the refresh token it was issued with, and an
//! HMAC of the session id and that generation under the deployment's CSRF key (stored wrapped by
//! the master key). It needs no storage, is bound to one session, and cannot be computed by a
//! page that can make the browser send the cookies (SameSite=Strict already stops most of
//! those). It rotates with the session's tokens: each login and refresh issues a new one, and
//! `POST /api/auth/refresh` by cookie accepts only the one issued with the refresh token it
//! presents ([`Csrf::verify_current`]). Other routes know the session from the access token, not the
//! refresh generation, and accept any generation of that session ([`Csrf::verify`]).

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The access token cookie.
pub const ACCESS: &str = "haven_access";
/// The refresh token cookie (sent to `/api/auth` only).
pub const REFRESH: &str = "haven_refresh";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

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
    /// The CSRF key for this deployment (stored wrapped: see `crate::kek::secrets`).
    #[must_use]
    pub fn new(key: Zeroizing<[u8; 32]>) -> Self {
        Self { key }
    }

    fn mac(&self, session: Uuid, generation: Uuid) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(session.as_bytes());
        mac.update(generation.as_bytes());
        mac
    }

    /// The token for `session` issued with refresh token `generation`.
    #[must_use]
    pub fn token(&self, session: Uuid, generation: Uuid) -> String {
        let tag = self.mac(session, generation).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(generation.as_bytes()),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The generation `presented` was issued with, when it is a genuine token of `session`
    /// (the tag compared in constant time).
    fn generation_of(&self, session: Uuid, presented: &str) -> Option<Uuid> {
        let (generation, tag) = presented.trim().split_once('.')?;
        let generation = Uuid::from_slice(&URL_SAFE_NO_PAD.decode(generation).ok()?).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(session, generation)
            .verify_slice(&tag)
            .is_ok()
            .then_some(generation)
    }

    /// Whether `presented` is a token of `session`, of any generation.
    #[must_use]
    pub fn verify(&self, session: Uuid, presented: &str) -> bool {
        self.generation_of(session, presented).is_some()
    }

    /// Whether `presented` is `session`'s token of exactly `generation` (the refresh token the
    /// request presents): an earlier token of the session no longer counts.
    #[must_use]
    pub fn verify_current(&self, session: Uuid, generation: Uuid, presented: &str) -> bool {
        self.generation_of(session, presented) == Some(generation)
    }
}

/// The `X-CSRF-Token` header of a request (empty when absent or not text).
#[must_use]
pub fn presented_csrf(headers: &HeaderMap) -> &str {
    headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
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

    fn csrf() -> Csrf {
        Csrf {
            key: Zeroizing::new([7u8; 32]),
        }
    }

    #[test]
    fn csrf_tokens_are_bound_to_session_and_generation() {
        let csrf = csrf();
        let (session, first, second) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let token = csrf.token(session, first);

        assert!(csrf.verify(session, &token));
        assert!(csrf.verify_current(session, first, &token));
        assert!(
            !csrf.verify_current(session, second, &token),
            "an earlier generation no longer refreshes"
        );
        assert!(!csrf.verify(Uuid::now_v7(), &token), "another session");
        assert_ne!(token, csrf.token(session, second), "rotates");
    }

    #[test]
    fn forged_csrf_tokens_are_refused() {
        let csrf = csrf();
        let (session, generation) = (Uuid::now_v7(), Uuid::now_v7());
        let genuine = csrf.token(session, generation);
        let (prefix, _) = genuine.split_once('.').expect("two parts");
        let other = Csrf {
            key: Zeroizing::new([8u8; 32]),
        };
        for forged in [
            String::new(),
            "AAAA".to_owned(),
            format!("{prefix}."),
            format!("{prefix}.AAAA"),
            other.token(session, generation),
            genuine.replace('.', ""),
        ] {
            assert!(!csrf.verify(session, &forged), "{forged:?}");
            assert!(
                !csrf.verify_current(session, generation, &forged),
                "{forged:?}"
            );
        }
    }
}
