//! `POST /api/auth/password`: change one's own password.

use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::auth::password::check_password;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::store::sessions::{self, RevokeReason};
use crate::store::users;

/// The change request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PasswordChange {
    /// The password in use now.
    #[schema(value_type = String, format = Password)]
    current_password: SecretString,
    /// The new password: 12–128 characters, not guessable (a zxcvbn score of at least 3), and
    /// not containing the account's email or names. No composition rules.
    #[schema(value_type = String, format = Password, min_length = 12, max_length = 128)]
    new_password: SecretString,
}

/// Change one's own password
///
/// Needs the current password. Every other session of the account ends (their refresh tokens
/// stop working); the caller's own session stays signed in.
#[utoipa::path(
    post,
    path = "/password",
    tag = "auth",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; the account's other sessions are ended"),
        (status = 400, description = "`currentPassword` is incorrect, or `newPassword` does not meet the policy (`VALIDATION_ERROR`, `details` says which)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(request): AppJson<PasswordChange>,
) -> Result<StatusCode, AppError> {
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let user = users::find(&mut tx, caller.user_id).await?.ok_or_else(|| {
        AppError::new(
            ErrorCode::Unauthenticated,
            ErrorCode::Unauthenticated.default_message(),
        )
    })?;
    let credentials = users::credentials_for_update(&mut tx, caller.user_id)
        .await?
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::Unauthenticated,
                ErrorCode::Unauthenticated.default_message(),
            )
        })?;
    let verification = state
        .hasher()
        .verify(request.current_password, credentials.password_hash)
        .await;
    if !verification.matches {
        return Err(AppError::invalid_field("currentPassword", "is incorrect"));
    }
    check_password(
        &request.new_password,
        &user.email,
        &user.first_name,
        &user.last_name,
    )
    .map_err(|e| AppError::invalid_field("newPassword", e.to_string()))?;
    let hash = state
        .hasher()
        .hash(request.new_password)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("hashing a password: {e}")))?;
    users::set_password_hash(&mut tx, caller.user_id, &hash, true).await?;
    let ended = sessions::revoke_user_families(
        &mut tx,
        caller.user_id,
        Some(caller.session_id),
        RevokeReason::PasswordChange,
    )
    .await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::PasswordChange)
            .by(caller.actor())
            .with_entity("user", caller.user_id)
            .with_details(json!({ "otherSessionsEnded": ended }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
