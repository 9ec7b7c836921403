//! `POST /api/auth/login`.
//!
//! Every way to fail (unknown email, wrong password, disabled or locked account) answers the
//! same 401 `INVALID_CREDENTIALS` body after the same work: an unknown email is verified
//! against a dummy hash. Each attempt is counted against the account *before* its password is
//! checked (atomically, in its own transaction), so parallel guesses cannot outrun the lock at
//! five consecutive failures.
//!
//! There is deliberately no growing delay between failures: the 15-minute lock after five
//! consecutive failures is what stops guessing (SPEC §5 allows either). A delay would have to
//! apply to unknown emails exactly as to known ones, or the third slow answer tells that an
//! account exists; that needs a failure counter for every address anyone types, kept bounded
//! and shared between instances, which is more state to get wrong for no protection the lock
//! does not already give. Without delays an answer's time depends on no counter at all: known,
//! unknown, locked or disabled, each failure costs one password verification (real or dummy)
//! and one audit row.

use axum::extract::State;
use axum::http::HeaderMap;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::mfa_check::{MfaCheck, check_second_factor};
use super::session::{self, Delivery, SessionTokens};
use crate::app::AppState;
use crate::audit::{self, Actor, AuditAction, AuditEvent, Outcome};
use crate::auth::dpop::{Mode, Rejection};
use crate::domain::Email;
use crate::http::dpop;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::ids::OrganizationId;
use crate::store::users::{self, User};
use crate::store::{organizations, sessions};

/// The login request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginRequest {
    /// The account's email (case-insensitive).
    #[schema(format = Email, max_length = 254, example = "dana@practice.example")]
    email: String,
    /// The account's password.
    #[schema(value_type = String, format = Password, max_length = 1024)]
    password: SecretString,
    /// A current code of the authenticator app (6 digits), or one unused backup code. Needed
    /// once the account has MFA enrolled; without it the answer is 401 `MFA_REQUIRED`.
    #[schema(max_length = 32, example = "123456")]
    mfa_code: Option<String>,
    /// `cookie` puts the tokens into httpOnly cookies instead of the body (for browsers); the
    /// body then carries a `csrfToken`. Omit it for bearer tokens.
    session: Option<SessionMode>,
}

/// `session: "cookie"` asks for cookies instead of tokens in the body.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionMode {
    /// httpOnly cookies and a CSRF token.
    Cookie,
}

/// A successful login: the session's tokens and the signed-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// The session's tokens (or, for cookie sessions, its CSRF token).
    #[serde(flatten)]
    tokens: SessionTokens,
    /// The account that signed in.
    user: User,
}

fn invalid_credentials() -> AppError {
    AppError::new(
        ErrorCode::InvalidCredentials,
        ErrorCode::InvalidCredentials.default_message(),
    )
}

/// Sign in with email and password
///
/// Returns a short-lived access token (15 minutes by default) and a refresh token (or, with
/// `session: "cookie"`, sets them as httpOnly cookies and returns a CSRF token). Every way to fail (unknown email, wrong
/// password, disabled or locked account) answers the same 401 `INVALID_CREDENTIALS`; after five
/// consecutive failures the account is locked for 15 minutes without saying so. An account
/// with MFA enrolled also needs `mfaCode`, else 401 `MFA_REQUIRED`.
///
/// DPoP (RFC 9449): with a `DPoP` proof (ES256 or EdDSA, `htm` POST, `htu` the public URL of
/// this route, the server's nonce from `DPoP-Nonce`; without it the answer is 400
/// `USE_DPOP_NONCE` carrying one) the access token is bound to the proof's key
/// (`tokenType: "DPoP"`, `cnf.jkt`) and so is the session: every refresh must be proven by
/// the same key.
#[utoipa::path(
    post,
    path = "/login",
    tag = "auth",
    security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the tokens are in the body (bearer) or in cookies (`session: \"cookie\"`)", body = LoginResponse),
        (status = 400, description = "The body is not valid, or the email or password is too long (`VALIDATION_ERROR`); or the `DPoP` proof lacks the server's nonce, given in `DPoP-Nonce` (`USE_DPOP_NONCE`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 401, description = "Wrong credentials, or a disabled or locked account (`INVALID_CREDENTIALS`, all alike); or MFA is enrolled and `mfaCode` is missing or wrong (`MFA_REQUIRED`); or the `DPoP` proof is invalid or replayed, or the practice requires one (`INVALID_DPOP_PROOF`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn login(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    AppJson(request): AppJson<LoginRequest>,
) -> Result<(HeaderMap, AppJson<LoginResponse>), AppError> {
    use secrecy::ExposeSecret;
    if request.email.chars().count() > 254
        || request.password.expose_secret().chars().count() > 1024
    {
        return Err(AppError::invalid_field(
            "body",
            "email or password is too long",
        ));
    }
    let delivery = match request.session {
        Some(SessionMode::Cookie) => Delivery::Cookie,
        None => Delivery::Body,
    };
    // A proof is checked before anything else (it costs a signature check, not a password
    // hash), the same way for every email: known, unknown, locked.
    let proof = match dpop::at_token_endpoint(&state, &headers, "/api/auth/login").await {
        Ok(proof) => proof,
        Err(rejection) => {
            return Err(dpop::refuse(
                &state,
                OrganizationId::PLATFORM,
                None,
                Some(&meta),
                rejection,
            )
            .await);
        }
    };
    let failure = |reason: &'static str| {
        AuditEvent::new(AuditAction::LoginFailure)
            .with_outcome(Outcome::Denied)
            .with_details(json!({ "reason": reason }))
            .with_request(&meta)
    };

    let Some(account) = (match Email::parse(&request.email) {
        Ok(email) => state.db().pre_auth().find_login_user(&email).await?,
        Err(_) => None,
    }) else {
        state.hasher().verify_dummy(request.password).await;
        audit::record_alone(
            state.db(),
            OrganizationId::PLATFORM,
            &failure("unknown_account"),
        )
        .await?;
        return Err(invalid_credentials());
    };
    let org = account.organization_id;
    let user = account.user_id;

    let mut tx = state.db().begin_tenant(org, Some(user)).await?;
    let attempt = users::reserve_login_attempt(&mut tx, user).await?;
    tx.commit().await?;
    if attempt.is_none() {
        state.hasher().verify_dummy(request.password).await;
        let event = failure("locked").with_actor(user, account.role);
        audit::record_alone(state.db(), org, &event).await?;
        return Err(invalid_credentials());
    }

    let verification = state
        .hasher()
        .verify(request.password.clone(), account.password_hash.clone())
        .await;
    if !verification.matches || account.disabled {
        let reason = if account.disabled {
            "disabled"
        } else {
            "wrong_password"
        };
        audit::record_alone(
            state.db(),
            org,
            &failure(reason).with_actor(user, account.role),
        )
        .await?;
        return Err(invalid_credentials());
    }

    let mut tx = state.db().begin_tenant(org, Some(user)).await?;
    let credentials = users::credentials_for_update(&mut tx, user)
        .await?
        .ok_or_else(invalid_credentials)?;
    match check_second_factor(
        &state,
        &mut tx,
        user,
        &credentials,
        request.mfa_code.as_deref(),
    )
    .await?
    {
        MfaCheck::Passed => {}
        MfaCheck::Missing => {
            // The password was right; asking for the code is not a failed attempt.
            users::release_login_attempt(&mut tx, user).await?;
            tx.commit().await?;
            return Err(AppError::new(
                ErrorCode::MfaRequired,
                ErrorCode::MfaRequired.default_message(),
            ));
        }
        MfaCheck::Wrong => {
            tx.rollback().await?;
            audit::record_alone(
                state.db(),
                org,
                &failure("wrong_mfa_code").with_actor(user, account.role),
            )
            .await?;
            return Err(AppError::new(
                ErrorCode::MfaRequired,
                ErrorCode::MfaRequired.default_message(),
            ));
        }
    }
    // Cookie sessions are unchanged by DPoP; a bearer session binds the proven key, unless the
    // practice switched DPoP off, and needs one when the practice requires it.
    let jkt = match (delivery, organizations::dpop_mode(&mut tx).await?, proof) {
        (Delivery::Cookie, _, _) | (_, Mode::Disabled, _) => None,
        (Delivery::Body, Mode::Required, None) => {
            // The password was right: refusing for the mode is not a failed attempt.
            users::release_login_attempt(&mut tx, user).await?;
            tx.commit().await?;
            let actor = Some(Actor::new(user, account.role));
            return Err(dpop::refuse(&state, org, actor, Some(&meta), Rejection::Required).await);
        }
        (Delivery::Body, _, proof) => proof.map(|p| p.jkt),
    };
    users::record_login_success(&mut tx, user).await?;
    if verification.needs_rehash {
        // Legacy bcrypt, or Argon2 below today's parameters: upgrade while we hold the password.
        let rehashed = state
            .hasher()
            .hash(request.password)
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("rehashing a password: {e}")))?;
        users::set_password_hash(&mut tx, user, &rehashed, false).await?;
    }
    let (refresh, refresh_hash) = session::new_refresh_token();
    let (family, refresh_id) =
        sessions::start_family(&mut tx, user, &refresh_hash, jkt.as_deref()).await?;
    let profile = users::find(&mut tx, user)
        .await?
        .ok_or_else(invalid_credentials)?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::LoginSuccess)
            .with_actor(user, profile.role)
            .with_entity("session", family)
            .with_details(json!({
                "delivery": match (delivery, &jkt) {
                    (Delivery::Cookie, _) => "cookie",
                    (Delivery::Body, Some(_)) => "dpop",
                    (Delivery::Body, None) => "bearer",
                },
                "rehashed": verification.needs_rehash,
            }))
            .with_request(&meta),
    )
    .await?;
    let refresh = session::NewRefresh {
        token: refresh,
        id: refresh_id,
    };
    let tokens = session::issue(&state, user, org, profile.role, family, refresh, jkt).await?;
    tx.commit().await?;
    let (headers, tokens) = session::deliver(&state, tokens, delivery);
    Ok((
        headers,
        AppJson(LoginResponse {
            tokens,
            user: profile,
        }),
    ))
}
