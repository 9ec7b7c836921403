//! `GET|POST /api/patients/{id}/care-team`, `DELETE /api/patients/{id}/care-team/{userId}`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::lookup::open_visible;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::{PatientId, UserId};
use crate::policy::patients as policy;
use crate::store::patients::{self, CareTeamMember};
use crate::store::users;

/// `{"careTeam": [...]}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CareTeam {
    /// The members, in the order they joined.
    care_team: Vec<CareTeamMember>,
}

/// Patient `id`'s care team.
///
/// Anyone who may see the patient (see `GET /api/patients/{id}`): ADMIN, BILLING, a CLINICIAN
/// on the team, a user with an active emergency grant; COMPLIANCE may not (403). The
/// read is audited `PATIENT_READ` (details `{"view": "care_team"}`), like any read of the record.
#[utoipa::path(
    get,
    path = "/{id}/care-team",
    tag = "patients",
    params(("id" = Uuid, Path, description = "The patient's id")),
    responses((status = 200, description = "The patient's care team", body = CareTeam)),
)]
pub async fn get_care_team(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<PatientId>,
) -> Result<AppJson<CareTeam>, AppError> {
    let (mut tx, patient) = open_visible(&state, &caller, &meta, id, "get_care_team").await?;
    let access = *patient.access();
    let members = patients::care_team(&mut tx, &patient).await?;
    // Who treats a patient is part of their record: the read is audited like any other, and
    // committed before the answer leaves.
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::PatientRead)
            .by(caller.actor())
            .with_access_method(access.method)
            .with_entity("patient", id)
            .with_patient(id)
            .with_details(serde_json::json!({ "view": "care_team" }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(CareTeam { care_team: members }))
}

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = AddCareTeamMember)]
pub struct AddMember {
    /// An active CLINICIAN of the same practice.
    user_id: UserId,
}

/// Add a clinician to a patient's care team.
///
/// ADMIN only. The user must be an active CLINICIAN of the practice (else 400 naming `userId`).
/// Audited as `CARE_TEAM_ADD`. The clinician may then read and update the patient.
#[utoipa::path(
    post,
    path = "/{id}/care-team",
    tag = "patients",
    params(("id" = Uuid, Path, description = "The patient's id")),
    request_body = AddMember,
    responses(
        (status = 201, description = "The care team, with the new member", body = CareTeam),
        (status = 409, description = "The clinician is already on the care team (`CONFLICT`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn add_care_team_member(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<PatientId>,
    AppJson(body): AppJson<AddMember>,
) -> Result<(StatusCode, AppJson<CareTeam>), AppError> {
    let may = policy::manage(&caller, "add_care_team_member", Some(id))?;
    let (mut tx, patient) = open_visible(&state, &caller, &meta, id, "care_team").await?;
    let access = *patient.access();
    match users::find(&mut tx, body.user_id).await? {
        Some(user) if policy::may_join_care_team(user.role) && !user.disabled => {}
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
    if !patients::add_to_care_team(&mut tx, &may, &patient, body.user_id, caller.user_id).await? {
        return Err(AppError::new(
            ErrorCode::Conflict,
            "Already on the care team",
        ));
    }
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::CareTeamAdd)
            .by(caller.actor())
            .with_access_method(access.method)
            .with_entity("user", body.user_id)
            .with_patient(id)
            .with_request(&meta),
    )
    .await?;
    let members = patients::care_team(&mut tx, &patient).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        AppJson(CareTeam { care_team: members }),
    ))
}

/// Remove a member from a patient's care team.
///
/// ADMIN only. Answers 404 when the patient is not visible or the user is not on its care team.
/// Audited as `CARE_TEAM_REMOVE`.
#[utoipa::path(
    delete,
    path = "/{id}/care-team/{userId}",
    tag = "patients",
    params(
        ("id" = Uuid, Path, description = "The patient's id"),
        ("userId" = Uuid, Path, description = "The member's user id"),
    ),
    responses((status = 204, description = "Removed")),
)]
pub async fn remove_care_team_member(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath((id, user)): AppPath<(PatientId, UserId)>,
) -> Result<StatusCode, AppError> {
    let may = policy::manage(&caller, "remove_care_team_member", Some(id))?;
    let (mut tx, patient) = open_visible(&state, &caller, &meta, id, "care_team").await?;
    let access = *patient.access();
    if !patients::remove_from_care_team(&mut tx, &may, &patient, user).await? {
        return Err(AppError::not_found());
    }
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::CareTeamRemove)
            .by(caller.actor())
            .with_access_method(access.method)
            .with_entity("user", user)
            .with_patient(id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
