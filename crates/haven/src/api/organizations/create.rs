//! `POST /api/admin/organizations` (SUPER_ADMIN): a practice and its first ADMIN.

use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::accounts::{self, AccountInput, Actor};
use crate::api::access::require_role;
use crate::app::AppState;
use crate::audit::AccessMethod;
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateOrganization {
    name: String,
    admin_email: String,
    admin_password: SecretString,
    admin_first_name: String,
    admin_last_name: String,
}

/// `POST /api/admin/organizations` → 201 `{organization, admin}`.
pub async fn create_organization(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<CreateOrganization>,
) -> Result<(StatusCode, AppJson<Value>), AppError> {
    require_role(
        &state,
        &caller,
        &meta,
        &[Role::SuperAdmin],
        "create_organization",
    )
    .await?;
    let actor = Actor {
        user: Some((caller.user_id, caller.role)),
        access_method: AccessMethod::SuperAdminBypass,
        request: meta,
    };
    let admin = AccountInput {
        email: body.admin_email,
        password: body.admin_password,
        role: Role::Admin,
        first_name: body.admin_first_name,
        last_name: body.admin_last_name,
    };
    let (organization, admin) =
        accounts::create_organization(&state, &actor, &body.name, admin).await?;
    Ok((
        StatusCode::CREATED,
        AppJson(json!({
            "organization": organization,
            "admin": { "id": admin.id, "email": admin.email, "role": admin.role },
        })),
    ))
}
