//! `GET|POST /api/patients/{id}/care-team`, `DELETE /api/patients/{id}/care-team/{userId}`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::lookup::{open_visible, refuse};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::UserId;
use crate::policy;
use crate::store::{patients, users};

/// `GET /api/patients/{id}/care-team` → `{careTeam}` (anyone who may see the patient).
pub async fn get_care_team(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<Value>, AppError> {
    let (mut tx, _, _) = open_visible(&state, &caller, &meta, id, "get_care_team").await?;
    let members = patients::care_team(&mut tx, id).await?;
    tx.commit().await?;
    Ok(AppJson(json!({ "careTeam": members })))
}

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddMember {
    user_id: UserId,
}

/// `POST /api/patients/{id}/care-team` `{userId}` (ADMIN) → 201 `{careTeam}`. The member must be
/// a clinician of the organization.
pub async fn add_care_team_member(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<AddMember>,
) -> Result<(StatusCode, AppJson<Value>), AppError> {
    if !policy::may_manage_patients(&caller) {
        return Err(refuse(&state, &caller, &meta, "add_care_team_member", Some(id)).await);
    }
    let (mut tx, _, access) = open_visible(&state, &caller, &meta, id, "care_team").await?;
    match users::find(&mut tx, body.user_id).await? {
        Some(user) if user.role == Role::Clinician && !user.disabled => {}
        Some(_) => {
            return Err(AppError::invalid_field(
                "userId",
                "must be an active clinician",
            ));
        }
        None => {
            return Err(AppError::invalid_field(
                "userId",
                "is not a user of this organization",
            ));
        }
    }
    if !patients::add_to_care_team(&mut tx, id, body.user_id, caller.user_id).await? {
        return Err(AppError::new(
            ErrorCode::Conflict,
            "Already on the care team",
        ));
    }
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::CareTeamAdd)
            .with_actor(caller.user_id, caller.role)
            .with_access_method(access.method)
            .with_entity("user", body.user_id)
            .with_patient(id)
            .with_request(&meta),
    )
    .await?;
    let members = patients::care_team(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, AppJson(json!({ "careTeam": members }))))
}

/// `DELETE /api/patients/{id}/care-team/{userId}` (ADMIN) → 204.
pub async fn remove_care_team_member(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath((id, user)): AppPath<(Uuid, UserId)>,
) -> Result<StatusCode, AppError> {
    if !policy::may_manage_patients(&caller) {
        return Err(refuse(&state, &caller, &meta, "remove_care_team_member", Some(id)).await);
    }
    let (mut tx, _, access) = open_visible(&state, &caller, &meta, id, "care_team").await?;
    if !patients::remove_from_care_team(&mut tx, id, user).await? {
        return Err(AppError::not_found());
    }
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::CareTeamRemove)
            .with_actor(caller.user_id, caller.role)
            .with_access_method(access.method)
            .with_entity("user", user)
            .with_patient(id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
