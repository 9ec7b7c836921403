//! Issuing a session's tokens and shaping the response, shared by login and refresh.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::cookies;
use crate::auth::token::AccessClaims;
use crate::domain::Role;
use crate::http::error::AppError;
use crate::ids::{OrganizationId, UserId};

/// Prefix that makes a leaked refresh token recognisable (to secret scanners, to people).
pub const REFRESH_PREFIX: &str = "hvn_rt_";

/// A new opaque refresh token (256 random bits) and the SHA-256 hash that is all Haven stores.
#[must_use]
pub fn new_refresh_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's RNG is unavailable");
    let token = format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_refresh_token(&token);
    (token, hash)
}

/// The stored form of a refresh token.
#[must_use]
pub fn hash_refresh_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// How the client wants its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// In the JSON body.
    Body,
    /// In httpOnly cookies, with a CSRF token in the body.
    Cookie,
}

/// A freshly issued access + refresh pair for one session.
#[derive(Debug)]
pub struct IssuedTokens {
    access: String,
    /// Whether the access token is bound to a DPoP key.
    bound: bool,
    refresh: String,
    session: Uuid,
    /// The refresh token's id: the generation the CSRF token is bound to.
    generation: Uuid,
}

/// The refresh token to issue with an access token: its value and its id.
#[derive(Debug)]
pub struct NewRefresh {
    /// The opaque token handed to the client.
    pub token: String,
    /// Its row id (the session's current generation).
    pub id: Uuid,
}

/// Signs an access token for the session, bound to the DPoP key with thumbprint `jkt` when the
/// session is. An RSA-3072 signature costs a millisecond or two of CPU, so it runs on the
/// blocking pool rather than on a runtime worker.
pub async fn issue(
    state: &AppState,
    user: UserId,
    organization: OrganizationId,
    role: Role,
    session: Uuid,
    refresh: NewRefresh,
    jkt: Option<String>,
) -> Result<IssuedTokens, AppError> {
    let bound = jkt.is_some();
    let claims =
        AccessClaims::new(user, organization, role, session, state.auth_config()).bound_to(jkt);
    let keys = state.keys().clone();
    let access = tokio::task::spawn_blocking(move || keys.issue(&claims))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("the signing task failed: {e}")))?
        .map_err(|e| AppError::Internal(anyhow::anyhow!("signing an access token: {e}")))?;
    Ok(IssuedTokens {
        access,
        bound,
        refresh: refresh.token,
        session,
        generation: refresh.id,
    })
}

/// The token fields of a login or refresh answer. Bearer sessions get `token` and
/// `refreshToken`; cookie sessions get the tokens in httpOnly cookies instead, and `csrfToken`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionTokens {
    /// The access token (a JWT, RS256) to send as `Authorization: Bearer <token>`, or, when
    /// `tokenType` is `DPoP`, as `Authorization: DPoP <token>` with a proof. Absent for cookie
    /// sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    token: Option<String>,
    /// `Bearer`, or `DPoP` for a token bound to the key that proved the login (RFC 9449).
    /// Absent for cookie sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "Bearer")]
    token_type: Option<&'static str>,
    /// Seconds until the access token expires (refresh before then).
    #[schema(example = 900)]
    expires_in: u64,
    /// The opaque refresh token for `POST /api/auth/refresh`; it works once and is replaced by
    /// the one in the answer. Absent for cookie sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "hvn_rt_...")]
    refresh_token: Option<String>,
    /// For cookie sessions: the value to send in `X-CSRF-Token` with every unsafe
    /// (POST/PUT/PATCH/DELETE) request, including the next refresh. It changes with every
    /// login and refresh: use the latest. Absent for bearer sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    csrf_token: Option<String>,
}

/// Puts a session's tokens where the client asked for them: the headers to answer with (never
/// cached; for cookie sessions the two cookies) and the token fields of the body.
#[must_use]
pub fn deliver(
    state: &AppState,
    tokens: IssuedTokens,
    delivery: Delivery,
) -> (HeaderMap, SessionTokens) {
    let config = state.auth_config();
    let expires_in = config.access_token_ttl.as_secs();
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let (name, nonce) = crate::http::dpop::nonce_header(state);
    headers.insert(name, nonce);
    let body = match delivery {
        Delivery::Body => SessionTokens {
            token_type: Some(if tokens.bound { "DPoP" } else { "Bearer" }),
            token: Some(tokens.access),
            expires_in,
            refresh_token: Some(tokens.refresh),
            csrf_token: None,
        },
        Delivery::Cookie => {
            headers.append(
                header::SET_COOKIE,
                cookies::set(
                    cookies::ACCESS,
                    &tokens.access,
                    "/",
                    config.access_token_ttl,
                    config.secure_cookies,
                ),
            );
            headers.append(
                header::SET_COOKIE,
                cookies::set(
                    cookies::REFRESH,
                    &tokens.refresh,
                    "/api/auth",
                    config.session_max_lifetime,
                    config.secure_cookies,
                ),
            );
            SessionTokens {
                token: None,
                token_type: None,
                expires_in,
                refresh_token: None,
                csrf_token: Some(state.csrf().token(tokens.session, tokens.generation)),
            }
        }
    };
    (headers, body)
}
