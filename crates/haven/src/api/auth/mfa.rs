//! MFA enrolment: `POST /api/auth/mfa/setup`, `/confirm`, `/disable`.

use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::mfa_check::{MfaCheck, check_second_factor, secret_aad};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::auth::mfa;
use crate::db::TenantTx;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::store::mfa as mfa_store;
use crate::store::users::{self, Credentials, User};

async fn account(
    state: &AppState,
    caller: &Caller,
) -> Result<(TenantTx, User, Credentials), AppError> {
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let missing = || {
        AppError::new(
            ErrorCode::Unauthenticated,
            ErrorCode::Unauthenticated.default_message(),
        )
    };
    let user = users::find(&mut tx, caller.user_id)
        .await?
        .ok_or_else(missing)?;
    let credentials = users::credentials_for_update(&mut tx, caller.user_id)
        .await?
        .ok_or_else(missing)?;
    Ok((tx, user, credentials))
}

/// `POST /api/auth/mfa/setup` → `{secret, otpauthUrl}`; the secret waits for confirmation.
pub async fn setup_mfa(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<AppJson<Value>, AppError> {
    let (mut tx, user, credentials) = account(&state, &caller).await?;
    if credentials.mfa_enabled {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            "MFA is already enabled",
        ));
    }
    let secret = mfa::TotpSecret::generate();
    let sealed = state
        .mfa_key()
        .seal(secret.as_bytes(), &secret_aad(&tx, caller.user_id));
    mfa_store::set_pending_secret(&mut tx, caller.user_id, &sealed).await?;
    let url = mfa::otpauth_url(&secret, &user.email, "Haven")
        .map_err(|e| AppError::Internal(anyhow::anyhow!("building the otpauth URL: {e}")))?;
    tx.commit().await?;
    Ok(AppJson(
        json!({ "secret": secret.to_base32(), "otpauthUrl": url }),
    ))
}

/// The confirm request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    code: String,
}

/// `POST /api/auth/mfa/confirm` `{code}` → `{backupCodes}` (shown once, stored as hashes).
pub async fn confirm_mfa(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(request): AppJson<ConfirmRequest>,
) -> Result<AppJson<Value>, AppError> {
    let (mut tx, _, credentials) = account(&state, &caller).await?;
    if credentials.mfa_enabled {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            "MFA is already enabled",
        ));
    }
    let sealed = credentials
        .mfa_pending_secret
        .ok_or_else(|| AppError::new(ErrorCode::InvalidState, "Start with /api/auth/mfa/setup"))?;
    let aad = secret_aad(&tx, caller.user_id);
    let secret = state
        .mfa_key()
        .open(&sealed, &aad)
        .map_err(|_| AppError::Internal(anyhow::anyhow!("a pending MFA secret does not open")))?;
    let now = chrono::Utc::now().timestamp().unsigned_abs();
    let step = mfa::verify_totp(&secret, request.code.trim(), now, None).ok_or_else(|| {
        AppError::invalid_field("code", "is not the current code of the authenticator")
    })?;
    let codes = mfa::generate_backup_codes();
    let hashes: Vec<[u8; 32]> = codes.iter().map(|c| mfa::hash_backup_code(c)).collect();
    mfa_store::enable(&mut tx, caller.user_id, &sealed, step, &hashes).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::MfaEnabled)
            .with_actor(caller.user_id, caller.role)
            .with_entity("user", caller.user_id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(json!({ "backupCodes": codes })))
}

/// The disable request: the password and a current code (or a backup code).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisableRequest {
    password: SecretString,
    code: String,
}

/// `POST /api/auth/mfa/disable` → 204.
pub async fn disable_mfa(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(request): AppJson<DisableRequest>,
) -> Result<StatusCode, AppError> {
    let (mut tx, _, credentials) = account(&state, &caller).await?;
    if !credentials.mfa_enabled {
        return Err(AppError::new(ErrorCode::InvalidState, "MFA is not enabled"));
    }
    let verification = state
        .hasher()
        .verify(request.password, credentials.password_hash.clone())
        .await;
    if !verification.matches {
        return Err(AppError::invalid_field("password", "is incorrect"));
    }
    if check_second_factor(
        &state,
        &mut tx,
        caller.user_id,
        &credentials,
        Some(&request.code),
    )
    .await?
        != MfaCheck::Passed
    {
        return Err(AppError::invalid_field("code", "is not valid"));
    }
    mfa_store::disable(&mut tx, caller.user_id).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::MfaDisabled)
            .with_actor(caller.user_id, caller.role)
            .with_entity("user", caller.user_id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
