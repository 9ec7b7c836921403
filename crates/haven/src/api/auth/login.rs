//! `POST /api/auth/login`.
//!
//! Every way to fail (unknown email, wrong password, disabled or locked account) answers the
//! same 401 `INVALID_CREDENTIALS` body after the same work: an unknown email is verified
//! against a dummy hash. Each attempt is counted against the account *before* its password is
//! checked (atomically, in its own transaction), so parallel guesses cannot outrun the lock at
//! five consecutive failures; from the third failure on, answers slow down.

use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::mfa_check::{MfaCheck, check_second_factor};
use super::session::{self, Delivery};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, Outcome};
use crate::domain::Email;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::ids::OrganizationId;
use crate::store::{sessions, users};

/// The login request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginRequest {
    email: String,
    password: SecretString,
    mfa_code: Option<String>,
    session: Option<SessionMode>,
}

/// `session: "cookie"` asks for cookies instead of tokens in the body.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionMode {
    /// httpOnly cookies and a CSRF token.
    Cookie,
}

fn invalid_credentials() -> AppError {
    AppError::new(
        ErrorCode::InvalidCredentials,
        ErrorCode::InvalidCredentials.default_message(),
    )
}

/// Failures from the third on wait longer and longer before answering.
fn failure_delay(attempt: i32) -> Duration {
    match attempt {
        ..=2 => Duration::ZERO,
        n => Duration::from_millis(250 << (n - 3).clamp(0, 3)),
    }
}

/// `POST /api/auth/login`.
pub async fn login(
    State(state): State<AppState>,
    Meta(meta): Meta,
    AppJson(request): AppJson<LoginRequest>,
) -> Result<Response, AppError> {
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
    let Some(attempt) = attempt else {
        state.hasher().verify_dummy(request.password).await;
        let event = failure("locked").with_actor(user, account.role);
        audit::record_alone(state.db(), org, &event).await?;
        return Err(invalid_credentials());
    };

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
        tokio::time::sleep(failure_delay(attempt)).await;
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
    let family = sessions::start_family(&mut tx, user, &refresh_hash).await?;
    let profile = users::find(&mut tx, user)
        .await?
        .ok_or_else(invalid_credentials)?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::LoginSuccess)
            .with_actor(user, profile.role)
            .with_entity("session", family)
            .with_details(json!({ "delivery": if delivery == Delivery::Cookie { "cookie" } else { "bearer" }, "rehashed": verification.needs_rehash }))
            .with_request(&meta),
    )
    .await?;
    let tokens = session::issue(&state, user, org, profile.role, family, refresh).await?;
    tx.commit().await?;
    Ok(session::respond(&state, &tokens, delivery, Some(&profile)))
}
