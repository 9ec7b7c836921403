//! Access tokens (SPEC §5): RS256 JWTs naming their signing key by `kid`, valid for
//! `HAVEN_ACCESS_TOKEN_MINUTES`, checked with 30 seconds of clock skew.
//!
//! Verification decides what it accepts before jsonwebtoken sees the token: the header is parsed
//! here, anything but `RS256` is refused before a key is even looked up (no `none`, no HS256
//! keyed with the public key), and the key comes only from our own table by `kid`, never from
//! the token (`jwk`, `jku`, `x5u` are ignored).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::dpop::Confirmation;
use super::keys::{KeyError, KeyStore, VerifyingKey};
use crate::config::AuthConfig;
use crate::domain::Role;
use crate::ids::{OrganizationId, UserId};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// Our tokens are well under 1 KiB; anything far larger is not one, and is refused unparsed.
const MAX_TOKEN_LEN: usize = 4096;

/// The claims of an access token. Dates are seconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer (`HAVEN_JWT_ISSUER`).
    pub iss: String,
    /// Audience (`HAVEN_JWT_AUDIENCE`).
    pub aud: String,
    /// The user.
    pub sub: UserId,
    /// The user's organization: the tenant of every request made with this token.
    pub org: OrganizationId,
    /// The user's role when the token was issued.
    pub role: Role,
    /// The refresh family (login session) it was issued from; revoking it ends the session.
    pub sid: Uuid,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expires at.
    pub exp: i64,
    /// A unique id for this token.
    pub jti: Uuid,
    /// For a DPoP-bound token, the key it is bound to (RFC 9449 §6.1): only a request proven
    /// by that key may use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

impl AccessClaims {
    /// Claims for a token issued now, expiring after `config.access_token_ttl`.
    #[must_use]
    pub fn new(
        user: UserId,
        org: OrganizationId,
        role: Role,
        sid: Uuid,
        config: &AuthConfig,
    ) -> Self {
        let now = Utc::now().timestamp();
        let ttl = i64::try_from(config.access_token_ttl.as_secs()).unwrap_or(i64::MAX);
        Self {
            iss: config.issuer.clone(),
            aud: config.audience.clone(),
            sub: user,
            org,
            role,
            sid,
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl),
            jti: Uuid::new_v4(),
            cnf: None,
        }
    }

    /// The same claims, bound to the DPoP key with thumbprint `jkt`.
    #[must_use]
    pub fn bound_to(mut self, jkt: Option<String>) -> Self {
        self.cnf = jkt.map(|jkt| Confirmation { jkt });
        self
    }
}

/// Why a token was refused. For logs and tests only: callers answer every one the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// Not three base64url parts with a JSON header, or far too long.
    Malformed,
    /// An algorithm other than RS256 (including `none`).
    Algorithm,
    /// A `crit` header: extensions we do not implement must not be ignored (RFC 7515 §4.1.11).
    CriticalHeader,
    /// No `kid` in the header.
    MissingKid,
    /// A `kid` that names no active or in-grace key.
    UnknownKid,
    /// The signature does not verify.
    Signature,
    /// `exp` passed, beyond the leeway.
    Expired,
    /// `nbf` still ahead, beyond the leeway.
    NotYetValid,
    /// Wrong `iss`.
    Issuer,
    /// Wrong `aud`.
    Audience,
    /// A claim missing or of the wrong type.
    Claims,
}

impl Rejection {
    /// A short name for logs.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Algorithm => "algorithm",
            Self::CriticalHeader => "critical_header",
            Self::MissingKid => "missing_kid",
            Self::UnknownKid => "unknown_kid",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Issuer => "issuer",
            Self::Audience => "audience",
            Self::Claims => "claims",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An access token that was refused. Its message says nothing about why, so it can be shown;
/// [`TokenError::reason`] is for logs.
#[derive(Debug, thiserror::Error)]
#[error("invalid or expired access token")]
pub struct TokenError(Rejection);

impl TokenError {
    /// Why, for logging at debug level.
    #[must_use]
    pub fn reason(&self) -> Rejection {
        self.0
    }
}

/// The header fields verification looks at, parsed independently of jsonwebtoken so that an
/// algorithm it does not even know (`none`) is refused for the right reason.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

impl KeyStore {
    /// Signs `claims` with the active key (RS256, header `kid` and `typ: JWT`).
    pub fn issue(&self, claims: &AccessClaims) -> Result<String, KeyError> {
        self.with_signer(|kid, key| {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(kid.to_owned());
            jsonwebtoken::encode(&header, claims, key).map_err(|_| KeyError::Crypto("signing"))
        })
    }

    /// Checks an access token: RS256 only, a known `kid`, the signature, `iss`, `aud`, and
    /// `exp`/`nbf` within [`LEEWAY_SECS`]. A kid this instance does not know yet may make it
    /// re-read the keys (see [`KeyStore::refresh`]).
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let verdict = self.check(token).await;
        if let Err(reason) = verdict {
            tracing::debug!(%reason, "access token rejected");
        }
        verdict.map_err(TokenError)
    }

    async fn check(&self, token: &str) -> Result<AccessClaims, Rejection> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Rejection::Malformed);
        }
        let header = parse_header(token)?;
        if header.alg != "RS256" {
            return Err(Rejection::Algorithm);
        }
        if header.crit.is_some() {
            return Err(Rejection::CriticalHeader);
        }
        let kid = header.kid.ok_or(Rejection::MissingKid)?;
        if !plausible_kid(&kid) {
            return Err(Rejection::UnknownKid);
        }
        let key = self
            .verifying_key(&kid)
            .await
            .ok_or(Rejection::UnknownKid)?;
        let now = Utc::now().timestamp();
        if let Some(verdict) = self.verified_tokens().get(token, &key, now) {
            return verdict;
        }
        let claims =
            jsonwebtoken::decode::<AccessClaims>(token, key.decoding_key(), self.validation())
                .map(|data| data.claims)
                .map_err(|error| classify(error.kind()))?;
        self.verified_tokens().insert(token, &key, &claims, now);
        Ok(claims)
    }
}

/// Access tokens already verified, by their exact text, with the key that verified them.
///
/// A client sends the same token with every request for its lifetime (15 minutes by default),
/// and each verification cost an RS256 signature check and two JSON parses: about a tenth of the
/// haven process's CPU per patient read (BENCHMARKS.md, the profile of issue 22). The same bytes
/// verified under the same key verify the same way, so a hit skips straight to what depends on
/// the time: `exp` and `nbf`, checked on every use with [`LEEWAY_SECS`] as jsonwebtoken does.
/// Everything else stays per request: the header checks and the `kid`'s key must still be
/// usable (a key past its grace period stops its cached tokens with it), and revocation, role
/// and binding are checked by the caller after verification, as before. Only tokens that passed
/// are kept, at most [`VERIFIED_TOKENS`] (expired ones are shed first, then it starts over).
#[derive(Default)]
pub(crate) struct VerifiedTokens {
    entries: std::sync::Mutex<HashMap<Box<str>, Verified>>,
}

struct Verified {
    key: Arc<VerifyingKey>,
    claims: AccessClaims,
}

/// How many verified tokens are kept (each well under 2 KiB).
pub(crate) const VERIFIED_TOKENS: usize = 4096;

impl fmt::Debug for VerifiedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedTokens").finish_non_exhaustive()
    }
}

impl VerifiedTokens {
    /// The verdict on `token` if it was verified before by `key`: its claims while `now` is
    /// within `nbf`..`exp` (with leeway), [`Rejection::Expired`] after. `None`: verify it.
    fn get(
        &self,
        token: &str,
        key: &VerifyingKey,
        now: i64,
    ) -> Option<Result<AccessClaims, Rejection>> {
        let mut entries = self.lock();
        let entry = entries.get(token)?;
        if !entry.key.same_as(key) {
            return None;
        }
        let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(i64::MAX);
        if entry.claims.exp < now - leeway {
            entries.remove(token);
            return Some(Err(Rejection::Expired));
        }
        // A clock stepped back before `nbf`: let jsonwebtoken say so.
        if entry.claims.nbf > now + leeway {
            return None;
        }
        Some(Ok(entry.claims.clone()))
    }

    /// Remembers `token`, verified by `key` at `now`.
    fn insert(&self, token: &str, key: &Arc<VerifyingKey>, claims: &AccessClaims, now: i64) {
        let mut entries = self.lock();
        if entries.len() >= VERIFIED_TOKENS {
            let oldest_valid = now - i64::try_from(LEEWAY_SECS).unwrap_or(i64::MAX);
            entries.retain(|_, entry| entry.claims.exp >= oldest_valid);
            if entries.len() >= VERIFIED_TOKENS {
                entries.clear();
            }
        }
        entries.insert(
            token.into(),
            Verified {
                key: Arc::clone(key),
                claims: claims.clone(),
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Verified>> {
        // Entries are written whole: a map left by a panicking thread is still valid.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The validation every access token gets; built once per [`KeyStore`].
pub(crate) fn validation(config: &AuthConfig) -> Validation {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&[&config.audience]);
    // jsonwebtoken checks the presence of these five; `iat` (and our own claims) are required
    // by `AccessClaims` having no optional fields.
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.leeway = LEEWAY_SECS;
    validation
}

fn parse_header(token: &str) -> Result<RawHeader, Rejection> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed);
    };
    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| Rejection::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| Rejection::Malformed)
}

/// Kids are base64url; anything else cannot be one of ours and must not reach the database.
fn plausible_kid(kid: &str) -> bool {
    (8..=64).contains(&kid.len())
        && kid
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

fn classify(kind: &ErrorKind) -> Rejection {
    match kind {
        ErrorKind::InvalidSignature => Rejection::Signature,
        ErrorKind::ExpiredSignature => Rejection::Expired,
        ErrorKind::ImmatureSignature => Rejection::NotYetValid,
        ErrorKind::InvalidIssuer => Rejection::Issuer,
        ErrorKind::InvalidAudience => Rejection::Audience,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => Rejection::Algorithm,
        ErrorKind::MissingRequiredClaim(_)
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::InvalidSubject
        | ErrorKind::Json(_) => Rejection::Claims,
        _ => Rejection::Malformed,
    }
}
