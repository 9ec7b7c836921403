//! `PUT /api/users/{id}/supervision` (ADMIN): assign a clinician's supervisor.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::UserId;
use crate::policy::notes as policy;
use crate::policy::{Denial, method_of};
use crate::store::supervision::{self, NewSupervision, SupervisionRow};
use crate::store::{is_unique_violation, users};

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetSupervision {
    /// The supervisor: an active CLINICIAN of the practice, not the supervisee; `null` ends the
    /// supervision.
    supervisor_id: Option<UserId>,
    /// Whether the supervisee's signatures need the supervisor's co-signature.
    #[serde(default)]
    requires_cosign: bool,
    /// Days the supervisor has to co-sign, 1–30 (default 3).
    #[schema(minimum = 1, maximum = 30)]
    cosign_due_days: Option<i32>,
}

/// A supervision.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Supervision {
    /// Who is supervised.
    supervisee_id: UserId,
    /// By whom.
    supervisor_id: UserId,
    /// Whether signatures need a co-signature.
    requires_cosign: bool,
    /// Days to co-sign.
    cosign_due_days: i32,
    /// Since when.
    since: DateTime<Utc>,
}

impl From<SupervisionRow> for Supervision {
    fn from(row: SupervisionRow) -> Self {
        Self {
            supervisee_id: row.supervisee_id,
            supervisor_id: row.supervisor_id,
            requires_cosign: row.requires_cosign,
            cosign_due_days: row.cosign_due_days,
            since: row.since,
        }
    }
}

/// `{"supervision": {...} | null}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupervisionResponse {
    /// The supervision now in force (`null`: none).
    supervision: Option<Supervision>,
}

async fn clinician(
    tx: &mut crate::db::TenantTx,
    caller: &Caller,
    id: UserId,
    field: &str,
) -> Result<(), AppError> {
    match users::find(tx, id).await? {
        Some(user) if user.role == Role::Clinician && !user.disabled => Ok(()),
        Some(_) => Err(AppError::invalid_field(
            field,
            "must be an active CLINICIAN",
        )),
        None => {
            let owner = users::organization_of(tx, id).await?;
            Err(Denial::not_found(caller, "user", id, owner).into())
        }
    }
}

/// Assign a supervisor
///
/// ADMIN. Replaces the clinician's supervision (one supervisor at a time, kept by an exclusion
/// constraint; the previous assignment is closed, not deleted); `supervisorId: null` ends it.
/// With `requiresCosign`, the supervisee's signed notes wait `PENDING_COSIGN` for this
/// supervisor. Audited `SUPERVISION_SET`.
#[utoipa::path(
    put,
    path = "/{id}/supervision",
    tag = "users",
    params(("id" = Uuid, Path, description = "The supervisee's id")),
    request_body = SetSupervision,
    responses(
        (status = 200, description = "The supervision now in force", body = SupervisionResponse),
        (status = 400, description = "Not clinicians, the same person, days out of range (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not an ADMIN (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such user in the practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Changed concurrently (`CONFLICT`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn set_supervision(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<UserId>,
    AppJson(body): AppJson<SetSupervision>,
) -> Result<AppJson<SupervisionResponse>, AppError> {
    let may = policy::manage_supervision(&caller, "set_supervision")?;
    let days = body.cosign_due_days.unwrap_or(3);
    if !(1..=30).contains(&days) {
        return Err(AppError::invalid_field("cosignDueDays", "must be 1 to 30"));
    }
    if body.supervisor_id == Some(id) {
        return Err(AppError::invalid_field(
            "supervisorId",
            "a clinician cannot supervise themself",
        ));
    }
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    clinician(&mut tx, &caller, id, "id").await?;
    if let Some(supervisor) = body.supervisor_id {
        clinician(&mut tx, &caller, supervisor, "supervisorId").await?;
    }
    let row = supervision::replace(
        &mut tx,
        &may,
        &NewSupervision {
            supervisee: id,
            supervisor: body.supervisor_id,
            requires_cosign: body.requires_cosign,
            cosign_due_days: days,
            assigned_by: caller.user_id,
        },
    )
    .await
    .map_err(|e| {
        if e.as_database_error().and_then(|d| d.constraint()) == Some(supervision::ONE_ACTIVE)
            || is_unique_violation(&e, supervision::ONE_ACTIVE)
        {
            AppError::new(
                ErrorCode::Conflict,
                "The supervision changed concurrently; try again",
            )
        } else {
            e.into()
        }
    })?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::SupervisionSet)
            .by(caller.actor())
            .with_access_method(method_of(&caller))
            .with_entity("user", id)
            .with_details(json!({
                "supervisorId": body.supervisor_id,
                "requiresCosign": body.requires_cosign,
                "cosignDueDays": days,
            }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(SupervisionResponse {
        supervision: row.map(Supervision::from),
    }))
}
