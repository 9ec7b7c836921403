//! `POST /api/users` (ADMIN).

use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{MANAGERS, assignable};
use crate::accounts::{self, AccountInput, Actor};
use crate::api::access::require_role;
use crate::app::AppState;
use crate::audit::{self, AccessMethod, AuditAction, AuditEvent, Outcome};
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateUser {
    email: String,
    password: SecretString,
    role: Role,
    first_name: String,
    last_name: String,
}

/// `POST /api/users` → 201 `{user}`.
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<CreateUser>,
) -> Result<(StatusCode, AppJson<Value>), AppError> {
    require_role(&state, &caller, &meta, MANAGERS, "create_user").await?;
    if !assignable(caller.role, body.role) {
        let event = AuditEvent::new(AuditAction::RoleEscalationAttempt)
            .with_outcome(Outcome::Denied)
            .with_actor(caller.user_id, caller.role)
            .with_details(json!({ "requestedRole": body.role }))
            .with_request(&meta);
        audit::record_alone(state.db(), caller.organization_id, &event).await?;
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "You cannot give this role",
        ));
    }
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
    let user = accounts::create_user(&state, &actor, caller.organization_id, input).await?;
    Ok((StatusCode::CREATED, AppJson(json!({ "user": user }))))
}
