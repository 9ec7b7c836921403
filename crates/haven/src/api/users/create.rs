//! `POST /api/users` (ADMIN).

use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::UserResponse;
use crate::accounts::{self, AccountInput, Actor};
use crate::app::AppState;
use crate::audit::AccessMethod;
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::policy::users as policy;

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateUser {
    /// The login email, unique across Haven (case-insensitive).
    #[schema(format = Email, max_length = 254, example = "sam@practice.example")]
    email: String,
    /// The initial password: 12–128 characters, not guessable (a zxcvbn score of at least 3),
    /// and not containing the email or the names.
    #[schema(value_type = String, format = Password, min_length = 12, max_length = 128)]
    password: SecretString,
    /// What the account may do. An ADMIN may give any role but SUPER_ADMIN; a SUPER_ADMIN only
    /// SUPER_ADMIN (platform operators).
    role: Role,
    /// Given name (trimmed; no control characters).
    #[schema(min_length = 1, max_length = 100)]
    first_name: String,
    /// Family name (trimmed; no control characters).
    #[schema(min_length = 1, max_length = 100)]
    last_name: String,
}

/// Create a user
///
/// Adds an account to the caller's organization (ADMIN). Asking for a role the caller may not
/// give is refused with 403 and audited as `ROLE_ESCALATION_ATTEMPT`.
#[utoipa::path(
    post,
    path = "/",
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "The new account", body = UserResponse),
        (status = 400, description = "A field is not valid, e.g. a weak password (`VALIDATION_ERROR`, `details` names the fields)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not an ADMIN, or a role the caller may not give (`FORBIDDEN`); a cookie request without its CSRF token (`CSRF_FAILED`); an administrator without the MFA their organization requires", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The email is taken (`CONFLICT`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<CreateUser>,
) -> Result<(StatusCode, AppJson<UserResponse>), AppError> {
    let may = policy::manage(&caller, "create_user")?;
    may.give_role(&caller, None, body.role)?;
    let actor = Actor {
        user: Some((caller.user_id, caller.role)),
        access_method: AccessMethod::Normal,
        request: meta,
    };
    let input = AccountInput {
        email: body.email,
        password: body.password,
        role: body.role,
        first_name: body.first_name,
        last_name: body.last_name,
    };
    let user = accounts::create_user(
        state.accounts(),
        &actor,
        &may,
        caller.organization_id,
        input,
    )
    .await?;
    Ok((StatusCode::CREATED, AppJson(UserResponse { user })))
}
