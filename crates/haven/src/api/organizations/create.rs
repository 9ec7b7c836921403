//! `POST /api/admin/organizations` (SUPER_ADMIN): a practice and its first ADMIN.

use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::{self, AccountInput, Actor};
use crate::app::AppState;
use crate::audit::AccessMethod;
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::ids::UserId;
use crate::policy::organizations as policy;
use crate::store::organizations::Organization;

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateOrganization {
    /// The practice's name.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// The first admin's email (unique across Haven).
    #[schema(format = Email, max_length = 254)]
    admin_email: String,
    /// The first admin's password (12–128 characters, not guessable).
    #[schema(value_type = String, format = Password, min_length = 12, max_length = 128)]
    admin_password: SecretString,
    /// The first admin's first name.
    #[schema(min_length = 1, max_length = 100)]
    admin_first_name: String,
    /// The first admin's last name.
    #[schema(min_length = 1, max_length = 100)]
    admin_last_name: String,
}

/// The new practice and its first admin.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationCreated {
    organization: Organization,
    admin: AdminSummary,
}

/// The first admin, as created.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminSummary {
    id: UserId,
    email: String,
    role: Role,
}

/// `POST /api/admin/organizations` → 201 `{organization, admin}`.
#[utoipa::path(
    post,
    path = "/",
    tag = "organizations",
    request_body = CreateOrganization,
    responses(
        (status = 201, description = "The practice and its first ADMIN", body = OrganizationCreated),
        (status = 409, description = "The admin email is taken (`CONFLICT`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn create_organization(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<CreateOrganization>,
) -> Result<(StatusCode, AppJson<OrganizationCreated>), AppError> {
    policy::operate(&caller, "create_organization")?;
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
        accounts::create_organization(state.accounts(), &actor, &body.name, admin).await?;
    Ok((
        StatusCode::CREATED,
        AppJson(OrganizationCreated {
            organization,
            admin: AdminSummary {
                id: admin.id,
                email: admin.email,
                role: admin.role,
            },
        }),
    ))
}
