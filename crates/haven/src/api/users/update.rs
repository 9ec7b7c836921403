//! `PATCH /api/users/{id}` (ADMIN): role, disabled, names. Nobody changes their own role.

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::UserResponse;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::domain::{Role, parse_name};
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::UserId;
use crate::policy::Denial;
use crate::policy::users as policy;
use crate::store::sessions::{self, RevokeReason};
use crate::store::users::{self, UserChanges};

/// The request body; absent (or null) fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateUser {
    /// A new role. Nobody changes their own; an ADMIN may give any role but SUPER_ADMIN, a
    /// SUPER_ADMIN only SUPER_ADMIN.
    role: Option<Role>,
    /// `true` disables the account (it can no longer log in and its sessions end); `false`
    /// enables it again. Nobody disables their own account.
    disabled: Option<bool>,
    /// A new given name (trimmed; no control characters).
    #[schema(min_length = 1, max_length = 100)]
    first_name: Option<String>,
    /// A new family name (trimmed; no control characters).
    #[schema(min_length = 1, max_length = 100)]
    last_name: Option<String>,
}

/// Update a user
///
/// Changes an account's role, disabled flag or names (ADMIN). Changing one's own role, or
/// giving a role the caller may not give, is refused with 403 and audited as
/// `ROLE_ESCALATION_ATTEMPT`; a role change is audited as `ROLE_CHANGE`. Disabling an account
/// ends all its sessions; disabling it or changing its role makes its access tokens refused at
/// once (401).
#[utoipa::path(
    patch,
    path = "/{id}",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The account as changed", body = UserResponse),
        (status = 400, description = "A name is not valid, or the caller tried to disable their own account (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not an ADMIN, the caller's own role, or a role the caller may not give (`FORBIDDEN`); a cookie request without its CSRF token (`CSRF_FAILED`); an administrator without the MFA their organization requires", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<UserId>,
    AppJson(body): AppJson<UpdateUser>,
) -> Result<AppJson<UserResponse>, AppError> {
    let may = policy::manage(&caller, "update_user")?;
    if let Some(role) = body.role {
        may.give_role(&caller, Some(id), role)?;
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
        return Err(Denial::not_found(&caller, "user", id, owner).into());
    };
    let (first, last) = (first.flatten(), last.flatten());
    let changes = UserChanges {
        role: body.role,
        disabled: body.disabled,
        first_name: first.as_deref(),
        last_name: last.as_deref(),
    };
    let after = users::update(&mut tx, &may, id, &changes)
        .await?
        .ok_or_else(AppError::not_found)?;
    if before.role != after.role {
        audit::record(
            &mut tx,
            &AuditEvent::new(AuditAction::RoleChange)
                .by(caller.actor())
                .with_entity("user", id)
                .with_details(json!({ "from": before.role, "to": after.role }))
                .with_request(&meta),
        )
        .await?;
    }
    let newly_disabled = after.disabled && !before.disabled;
    if newly_disabled {
        sessions::revoke_user_families(&mut tx, id, None, RevokeReason::Disabled).await?;
    }
    // The access tokens already out name the old role, or a live account: refused from now on,
    // on every instance (SPEC §5).
    if newly_disabled || before.role != after.role {
        users::end_access_tokens(&mut tx, id).await?;
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
            .by(caller.actor())
            .with_entity("user", id)
            .with_details(json!({ "fields": fields, "disabled": after.disabled }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    if before.role != after.role || before.disabled != after.disabled {
        // This instance refuses the old tokens at once; the others within their next read.
        crate::api::auth::reread_revocations(&state).await;
    }
    Ok(AppJson(UserResponse { user: after }))
}
