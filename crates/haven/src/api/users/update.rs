//! `PATCH /api/users/{id}` (ADMIN): role, disabled, names. Nobody changes their own role.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{MANAGERS, assignable};
use crate::api::access::{not_found, require_role};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, Outcome};
use crate::auth::caller::Caller;
use crate::domain::{Role, parse_name};
use crate::http::error::{AppError, Details, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::UserId;
use crate::store::sessions::{self, RevokeReason};
use crate::store::users::{self, UserChanges};

/// The request body; absent fields stay as they are.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateUser {
    role: Option<Role>,
    disabled: Option<bool>,
    first_name: Option<String>,
    last_name: Option<String>,
}

/// `PATCH /api/users/{id}` → `{user}`.
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<UserId>,
    AppJson(body): AppJson<UpdateUser>,
) -> Result<AppJson<Value>, AppError> {
    require_role(&state, &caller, &meta, MANAGERS, "update_user").await?;
    let escalation = |requested: Role| {
        AuditEvent::new(AuditAction::RoleEscalationAttempt)
            .with_outcome(Outcome::Denied)
            .with_actor(caller.user_id, caller.role)
            .with_entity("user", id)
            .with_details(json!({ "requestedRole": requested }))
            .with_request(&meta)
    };
    if let Some(role) = body.role
        && (id == caller.user_id || !assignable(caller.role, role))
    {
        audit::record_alone(state.db(), caller.organization_id, &escalation(role)).await?;
        let message = if id == caller.user_id {
            "You cannot change your own role"
        } else {
            "You cannot give this role"
        };
        return Err(AppError::new(ErrorCode::Forbidden, message));
    }
    if body.disabled == Some(true) && id == caller.user_id {
        return Err(AppError::invalid_field(
            "disabled",
            "you cannot disable your own account",
        ));
    }
    let mut details = Details::new();
    let first = body.first_name.as_deref().map(|n| {
        parse_name(n, 100)
            .map_err(|e| details.insert("firstName".into(), e))
            .ok()
    });
    let last = body.last_name.as_deref().map(|n| {
        parse_name(n, 100)
            .map_err(|e| details.insert("lastName".into(), e))
            .ok()
    });
    if !details.is_empty() {
        return Err(AppError::validation("The changes are not valid", details));
    }

    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let Some(before) = users::find(&mut tx, id).await? else {
        let owner = users::organization_of(&mut tx, id).await?;
        tx.commit().await?;
        return Err(not_found(&state, &caller, &meta, "user", id, owner).await);
    };
    let (first, last) = (first.flatten(), last.flatten());
    let changes = UserChanges {
        role: body.role,
        disabled: body.disabled,
        first_name: first.as_deref(),
        last_name: last.as_deref(),
    };
    let after = users::update(&mut tx, id, &changes)
        .await?
        .ok_or_else(AppError::not_found)?;
    if before.role != after.role {
        audit::record(
            &mut tx,
            &AuditEvent::new(AuditAction::RoleChange)
                .with_actor(caller.user_id, caller.role)
                .with_entity("user", id)
                .with_details(json!({ "from": before.role, "to": after.role }))
                .with_request(&meta),
        )
        .await?;
    }
    if after.disabled && !before.disabled {
        sessions::revoke_user_families(&mut tx, id, None, RevokeReason::Disabled).await?;
    }
    let fields: Vec<&str> = [
        body.role.map(|_| "role"),
        body.disabled.map(|_| "disabled"),
        body.first_name.as_ref().map(|_| "firstName"),
        body.last_name.as_ref().map(|_| "lastName"),
    ]
    .into_iter()
    .flatten()
    .collect();
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::UserUpdate)
            .with_actor(caller.user_id, caller.role)
            .with_entity("user", id)
            .with_details(json!({ "fields": fields, "disabled": after.disabled }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(json!({ "user": after })))
}
