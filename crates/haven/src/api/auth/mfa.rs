//! MFA enrolment: `POST /api/auth/mfa/setup`, `/confirm`, `/disable`.

use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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

/// A new TOTP secret, to be confirmed with a code before it counts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaSetup {
    /// The shared secret in base32 (RFC 4648, no padding), for typing into an authenticator
    /// app by hand.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    secret: String,
    /// The same secret as an `otpauth://totp/...` URL, to show as a QR code.
    #[schema(
        example = "otpauth://totp/Haven:dana%40practice.example?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Haven"
    )]
    otpauth_url: String,
}

/// Start MFA enrolment
///
/// Generates a TOTP secret (RFC 6238: SHA-1, 6 digits, 30 seconds) for the caller's account.
/// It takes effect only once `POST /api/auth/mfa/confirm` receives a current code; calling this
/// again replaces a secret not yet confirmed. The secret is shown only here.
#[utoipa::path(
    post,
    path = "/mfa/setup",
    tag = "auth",
    responses(
        (status = 200, description = "The secret, waiting for confirmation", body = MfaSetup),
        (status = 409, description = "MFA is already enabled (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn setup_mfa(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<AppJson<MfaSetup>, AppError> {
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
    Ok(AppJson(MfaSetup {
        secret: secret.to_base32(),
        otpauth_url: url,
    }))
}

/// The confirm request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaConfirmRequest {
    /// The code the authenticator app shows now for the new secret.
    #[schema(example = "123456")]
    code: String,
}

/// The backup codes of a new enrolment.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MfaBackupCodes {
    /// Ten single-use codes (two groups of five characters) that stand in for the authenticator
    /// app at login. Shown only here: Haven keeps only their hashes.
    #[schema(min_items = 10, max_items = 10, example = json!(["7k2mq-x9d4r", "..."]))]
    backup_codes: Vec<String>,
}

/// Confirm MFA enrolment
///
/// Checks a current code for the secret from `POST /api/auth/mfa/setup` and, when it is right,
/// turns MFA on: from now on login needs `mfaCode`. Answers ten backup codes, shown only once.
#[utoipa::path(
    post,
    path = "/mfa/confirm",
    tag = "auth",
    request_body = MfaConfirmRequest,
    responses(
        (status = 200, description = "MFA is enabled; keep the backup codes somewhere safe", body = MfaBackupCodes),
        (status = 400, description = "`code` is not the authenticator's current code (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "MFA is already enabled, or no setup was started (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn confirm_mfa(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(request): AppJson<MfaConfirmRequest>,
) -> Result<AppJson<MfaBackupCodes>, AppError> {
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
            .by(caller.actor())
            .with_entity("user", caller.user_id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(MfaBackupCodes {
        backup_codes: codes,
    }))
}

/// The disable request: the password and a current code (or a backup code).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaDisableRequest {
    /// The account's password.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
    /// A current code of the authenticator app, or an unused backup code.
    #[schema(max_length = 32, example = "123456")]
    code: String,
}

/// Turn MFA off
///
/// Needs the account's password and a current code (or an unused backup code). The secret and
/// the remaining backup codes are deleted. Where the organization requires MFA for
/// administrators, an ADMIN or SUPER_ADMIN without it can then use only the `/api/auth` routes.
#[utoipa::path(
    post,
    path = "/mfa/disable",
    tag = "auth",
    request_body = MfaDisableRequest,
    responses(
        (status = 204, description = "MFA is disabled"),
        (status = 400, description = "`password` is incorrect or `code` is not valid (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "MFA is not enabled (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn disable_mfa(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(request): AppJson<MfaDisableRequest>,
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
            .by(caller.actor())
            .with_entity("user", caller.user_id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    // Effective at once on this instance; the others reuse a pass for at most a second.
    state
        .mfa_gate()
        .forget(caller.organization_id, caller.user_id);
    Ok(StatusCode::NO_CONTENT)
}
