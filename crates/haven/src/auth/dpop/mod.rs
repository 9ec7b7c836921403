//! DPoP (RFC 9449): proofs that the caller holds the private key its token is bound to.
//!
//! A proof is a JWT the client signs for one request with its own key, whose public half it
//! carries in the header (`jwk`). [`check`] follows RFC 9449 §4.3: `typ` is `dpop+jwt`, the
//! algorithm is ES256 or EdDSA (nothing symmetric, no `none`, no RSA), the `jwk` is a public key
//! of that algorithm (a private member is refused), the signature verifies under that key
//! (jsonwebtoken; no signature code here), `htm` and `htu` name this request (the configured
//! public URL plus the path, never the Host header), `iat` is within 60 seconds back and 5
//! ahead, `jti` is there, `ath` is the hash of the access token at resources, and `nonce` is one
//! of ours where one is required. The key's RFC 7638 thumbprint (`jkt`) is what tokens are
//! bound to. Replays of a `(jkt, jti)` are refused by [`replay`]; nonces come from [`nonce`].

pub mod nonce;
pub mod replay;

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The proof's header.
pub const HEADER: &str = "dpop";
/// The header in which the server hands out nonces.
pub const NONCE_HEADER: &str = "dpop-nonce";
/// The signature algorithms a proof may use, as advertised.
pub const ALGORITHMS: [&str; 2] = ["ES256", "EdDSA"];
/// How far in the past a proof's `iat` may be.
pub const MAX_AGE_SECS: i64 = 60;
/// How far in the future (clock skew).
pub const MAX_AHEAD_SECS: i64 = 5;
/// A proof is a few hundred bytes; anything far larger is refused unparsed.
const MAX_PROOF_LEN: usize = 4096;
/// `jti` is meant to be a random id; a megabyte of it is not one.
const MAX_JTI_LEN: usize = 128;
/// Members that only a private JWK has (RFC 7517/7518): a proof carrying one is refused.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A practice's DPoP mode (`dpopMode`, SPEC §6 "Practice settings").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Proofs are ignored; tokens are bearer tokens.
    Disabled,
    /// A client that proves a key gets a bound token; bearer clients still work (the default).
    Optional,
    /// Bearer logins and refreshes are refused (cookie sessions are unchanged).
    Required,
}

impl Mode {
    /// The stored and wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }

    /// The mode a stored name stands for; an unknown one (a newer migration's) as the default.
    #[must_use]
    pub fn from_stored(name: &str) -> Self {
        match name {
            "disabled" => Self::Disabled,
            "required" => Self::Required,
            _ => Self::Optional,
        }
    }
}

/// The `cnf` claim of a bound access token (RFC 9449 §6.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the key, base64url.
    pub jkt: String,
}

/// Why a proof was refused: named in the `DPOP_PROOF_REJECTED` audit row and the metric, never
/// in the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// No `DPoP` header where one is needed.
    Missing,
    /// More than one `DPoP` header.
    Multiple,
    /// Not a compact JWS with JSON header and claims, or far too long.
    Malformed,
    /// `typ` is not `dpop+jwt`.
    Type,
    /// An algorithm other than ES256 or EdDSA (`none`, HS256, RS256, ...).
    Algorithm,
    /// A `crit` header (no extension is implemented).
    CriticalHeader,
    /// No `jwk`, a key that does not fit the algorithm, or one that cannot be used.
    Key,
    /// The `jwk` has private members.
    PrivateKey,
    /// The signature does not verify under the `jwk`.
    Signature,
    /// A claim missing or of the wrong type.
    Claims,
    /// `htm` is not the request's method.
    Method,
    /// `htu` is not the request's URL.
    Url,
    /// `iat` too far in the past.
    Stale,
    /// `iat` too far in the future.
    Future,
    /// `ath` missing or not the hash of the presented token.
    TokenHash,
    /// No `nonce` where one is required (answered `USE_DPOP_NONCE`).
    NonceMissing,
    /// A `nonce` that is not one of ours, or too old (answered `USE_DPOP_NONCE`).
    NonceInvalid,
    /// The `(jkt, jti)` pair was used before.
    Replay,
    /// A valid proof by a key other than the one the token or session is bound to.
    KeyMismatch,
    /// A bound token presented as `Bearer` (a downgrade).
    BoundTokenAsBearer,
    /// A `DPoP` authorization with a token that is not bound.
    UnboundToken,
    /// The practice requires DPoP and the request has none.
    Required,
    /// A proof for a session that was started without one.
    UnboundSession,
}

impl Rejection {
    /// A short name for the audit row and the metric.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Multiple => "multiple",
            Self::Malformed => "malformed",
            Self::Type => "type",
            Self::Algorithm => "algorithm",
            Self::CriticalHeader => "critical_header",
            Self::Key => "key",
            Self::PrivateKey => "private_key",
            Self::Signature => "signature",
            Self::Claims => "claims",
            Self::Method => "htm",
            Self::Url => "htu",
            Self::Stale => "iat_stale",
            Self::Future => "iat_future",
            Self::TokenHash => "ath",
            Self::NonceMissing => "nonce_missing",
            Self::NonceInvalid => "nonce_invalid",
            Self::Replay => "replay",
            Self::KeyMismatch => "key_mismatch",
            Self::BoundTokenAsBearer => "bound_token_as_bearer",
            Self::UnboundToken => "unbound_token",
            Self::Required => "required",
            Self::UnboundSession => "unbound_session",
        }
    }

    /// Whether the answer is `USE_DPOP_NONCE` (the client retries with the nonce it is given)
    /// rather than `INVALID_DPOP_PROOF`.
    #[must_use]
    pub const fn wants_nonce(self) -> bool {
        matches!(self, Self::NonceMissing | Self::NonceInvalid)
    }

    /// Whether this refusal is a security signal (replay, another key, a downgrade) rather than
    /// a client's mistake: breach detection counts these.
    #[must_use]
    pub const fn is_attack_signal(self) -> bool {
        matches!(
            self,
            Self::Replay | Self::KeyMismatch | Self::BoundTokenAsBearer
        )
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the proof must say for this request.
#[derive(Debug)]
pub struct Expected<'a> {
    /// The request's method (`GET`, `POST`, ...).
    pub method: &'a str,
    /// The request's URL as the client addressed it: the public base URL plus the path.
    pub url: &'a str,
    /// The access token presented with it, at resources (then `ath` is required).
    pub access_token: Option<&'a str>,
    /// The Unix time now.
    pub now: i64,
}

/// A proof that passed [`check`].
#[derive(Debug, Clone)]
pub struct Proof {
    /// The key's thumbprint.
    pub jkt: String,
    /// The proof's id (for the replay check).
    pub jti: String,
    /// Its `nonce`, if it carried one (the caller checks it where nonces are required).
    pub nonce: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    typ: Option<String>,
    alg: String,
    jwk: Option<serde_json::Map<String, serde_json::Value>>,
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    ath: Option<String>,
    nonce: Option<String>,
}

/// The `ath` of an access token: base64url(SHA-256(token)).
#[must_use]
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The key of a proof header already seen: checked, decoded and thumbprinted once.
struct ProofKey {
    algorithm: Algorithm,
    key: DecodingKey,
    jkt: String,
}

/// The keys of recent proof headers, by the header's base64url text. A client signs every proof
/// with the same key and the same header (`typ`, `alg`, `jwk`; the nonce is a claim), so after
/// its first proof the header's parse, the JWK's checks, the key's decoding and the RFC 7638
/// thumbprint are a look-up; the signature is verified on every proof. Only headers that passed
/// every check are kept, at most [`KEY_CACHE_ENTRIES`] (then it starts over: a client sending
/// ever new keys only pays for its own parsing).
#[derive(Default)]
pub struct KeyCache {
    entries: std::sync::Mutex<std::collections::HashMap<Box<str>, std::sync::Arc<ProofKey>>>,
}

/// How many proof headers [`KeyCache`] keeps.
pub const KEY_CACHE_ENTRIES: usize = 4096;

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache").finish_non_exhaustive()
    }
}

impl KeyCache {
    /// The checked key of `header` (a proof's first segment), from the cache or by
    /// [`checked_key`].
    fn key(&self, header: &str) -> Result<std::sync::Arc<ProofKey>, Rejection> {
        if let Some(hit) = self.lock().get(header) {
            return Ok(std::sync::Arc::clone(hit));
        }
        let key = std::sync::Arc::new(checked_key(header)?);
        let mut entries = self.lock();
        if entries.len() >= KEY_CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(header.into(), std::sync::Arc::clone(&key));
        Ok(key)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<Box<str>, std::sync::Arc<ProofKey>>>
    {
        // The map holds only finished entries: one left by a panicking thread is still valid.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Checks `proof` against what this request must say, with the header's key from `keys`. Nonce
/// and replay are checked by the caller (with [`nonce::Nonces`] and [`replay::first_use`]).
///
/// # Errors
/// The first [`Rejection`] that applies.
pub fn check(keys: &KeyCache, proof: &str, expected: &Expected<'_>) -> Result<Proof, Rejection> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(Rejection::Malformed);
    }
    let mut parts = proof.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed);
    };
    let key = keys.key(header)?;
    // The signed input is the first two segments as sent.
    let message = &proof[..header.len() + 1 + payload.len()];
    match jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key.key, key.algorithm) {
        Ok(true) => {}
        Ok(false) => return Err(Rejection::Signature),
        Err(_) => return Err(Rejection::Malformed),
    }
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(Rejection::Claims)?;

    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err(Rejection::Claims);
    }
    if claims.htm != expected.method {
        return Err(Rejection::Method);
    }
    if normalize_url(&claims.htu).as_deref() != Some(expected.url) {
        return Err(Rejection::Url);
    }
    if claims.iat < expected.now - MAX_AGE_SECS {
        return Err(Rejection::Stale);
    }
    if claims.iat > expected.now + MAX_AHEAD_SECS {
        return Err(Rejection::Future);
    }
    if let Some(token) = expected.access_token {
        let matches = claims.ath.as_deref().is_some_and(|ath| {
            // Constant time is not needed for a hash of a token the caller presented, but it
            // costs nothing.
            constant_time_eq(ath.as_bytes(), token_hash(token).as_bytes())
        });
        if !matches {
            return Err(Rejection::TokenHash);
        }
    }
    Ok(Proof {
        jkt: key.jkt.clone(),
        jti: claims.jti,
        nonce: claims.nonce,
    })
}

/// The header's checks (RFC 9449 §4.3 steps on `typ`, `alg`, `crit` and `jwk`) and its key.
fn checked_key(header: &str) -> Result<ProofKey, Rejection> {
    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| Rejection::Malformed)?;
    let header: RawHeader = serde_json::from_slice(&json).map_err(|_| Rejection::Malformed)?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err(Rejection::Type);
    }
    let algorithm = match header.alg.as_str() {
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        _ => return Err(Rejection::Algorithm),
    };
    if header.crit.is_some() {
        return Err(Rejection::CriticalHeader);
    }
    let raw_jwk = header.jwk.ok_or(Rejection::Key)?;
    if PRIVATE_MEMBERS.iter().any(|m| raw_jwk.contains_key(*m)) {
        return Err(Rejection::PrivateKey);
    }
    let jwk: Jwk =
        serde_json::from_value(serde_json::Value::Object(raw_jwk)).map_err(|_| Rejection::Key)?;
    let fits = match (&jwk.algorithm, algorithm) {
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
            okp.curve == EllipticCurve::Ed25519
        }
        _ => false,
    };
    if !fits {
        return Err(Rejection::Key);
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| Rejection::Key)?;
    let jkt = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| Rejection::Key)?;
    Ok(ProofKey {
        algorithm,
        key,
        jkt,
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The URL a proof must name for `path` at the public base URL `base` (already normalized:
/// see [`normalize_url`]).
#[must_use]
pub fn request_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

/// An `htu` compared as RFC 9449 §4.3 asks (RFC 3986 §6.2.2–6.2.3): scheme and host in lower
/// case, the default port dropped, an empty path as `/`, without query or fragment. `None`
/// when it is not an absolute `http(s)` URL.
#[must_use]
pub fn normalize_url(url: &str) -> Option<String> {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    use jsonwebtoken::EncodingKey;

    /// A client key: its proof header (base64url) and signer.
    fn client() -> (String, EncodingKey) {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("key");
        let key = EncodingKey::from_ec_der(pkcs8.as_ref());
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&key, Algorithm::ES256).expect("jwk"))
                .expect("json");
        jwk.as_object_mut()
            .expect("object")
            .retain(|k, _| matches!(k.as_str(), "kty" | "crv" | "x" | "y"));
        let header = serde_json::json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": jwk });
        (
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header")),
            key,
        )
    }

    fn proof(header: &str, signer: &EncodingKey, jti: &str, now: i64) -> String {
        let claims = serde_json::json!({
            "jti": jti, "htm": "GET", "htu": "https://h.example/api/x", "iat": now,
        });
        let input = format!(
            "{header}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims"))
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), signer, Algorithm::ES256).expect("sign");
        format!("{input}.{signature}")
    }

    #[test]
    fn a_cached_header_still_has_every_signature_and_claim_checked() {
        let keys = KeyCache::default();
        let (header, signer) = client();
        let (_, other) = client();
        let now = 1_800_000_000;
        let expected = Expected {
            method: "GET",
            url: "https://h.example/api/x",
            access_token: None,
            now,
        };
        let first = check(&keys, &proof(&header, &signer, "a", now), &expected).expect("valid");
        // The header is cached now; the next proofs reuse its key and thumbprint only.
        let second = check(&keys, &proof(&header, &signer, "b", now), &expected).expect("valid");
        assert_eq!(first.jkt, second.jkt);
        assert_eq!(second.jti, "b");
        // The same header signed by another key.
        let forged = proof(&header, &other, "c", now);
        assert_eq!(
            check(&keys, &forged, &expected)
                .expect_err("forged")
                .as_str(),
            "signature"
        );
        // A claim changed after signing.
        let genuine = proof(&header, &signer, "d", now);
        let mut parts: Vec<&str> = genuine.split('.').collect();
        let altered = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&serde_json::json!({
                "jti": "d", "htm": "POST", "htu": "https://h.example/api/x", "iat": now,
            }))
            .expect("claims"),
        );
        parts[1] = &altered;
        assert_eq!(
            check(&keys, &parts.join("."), &expected)
                .expect_err("altered")
                .as_str(),
            "signature"
        );
        // Claims are checked per proof, not per header.
        let stale = proof(&header, &signer, "e", now - MAX_AGE_SECS - 1);
        assert_eq!(
            check(&keys, &stale, &expected).expect_err("stale").as_str(),
            "iat_stale"
        );
    }

    #[test]
    fn a_refused_header_is_not_cached() {
        let keys = KeyCache::default();
        let header = URL_SAFE_NO_PAD.encode(
            br#"{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}}"#,
        );
        let proof = format!("{header}.e30.AA");
        let expected = Expected {
            method: "GET",
            url: "https://h.example/api/x",
            access_token: None,
            now: 0,
        };
        for _ in 0..2 {
            assert_eq!(
                check(&keys, &proof, &expected)
                    .expect_err("private")
                    .as_str(),
                "private_key"
            );
        }
        assert!(keys.lock().is_empty());
    }

    #[test]
    fn urls_compare_without_case_default_port_query_or_fragment() {
        let n = |u: &str| normalize_url(u);
        assert_eq!(
            n("HTTPS://API.Example.org:443/api/patients?x=1#f").as_deref(),
            Some("https://api.example.org/api/patients")
        );
        assert_eq!(
            n("http://127.0.0.1:8080/api").as_deref(),
            Some("http://127.0.0.1:8080/api")
        );
        assert_eq!(
            n("https://api.example.org").as_deref(),
            Some("https://api.example.org/")
        );
        assert_eq!(n("ftp://x/y"), None);
        assert_eq!(n("/api/patients"), None);
        assert_eq!(n("https://user@evil.example/api"), None);
        assert_eq!(
            request_url("https://api.example.org/", "/api/auth/login"),
            "https://api.example.org/api/auth/login"
        );
    }
}
