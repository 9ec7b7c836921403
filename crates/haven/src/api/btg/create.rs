//! `POST /api/admin/btg/grants` (ADMIN).

use crate::ids::{GrantId, PatientId};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};

use super::text;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::btg::{
    ALLOWED_DURATIONS_MINUTES, DEFAULT_DURATION_MINUTES, MAX_JUSTIFICATION_LENGTH,
    MIN_JUSTIFICATION_LENGTH, SecurityEvent, Severity,
};
use crate::http::error::{AppError, Details, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::ids::UserId;
use crate::policy::Denial;
use crate::policy::btg as policy;
use crate::policy::patients as patients_policy;
use crate::store::btg::{self as store, NewGrant};
use crate::store::{patients, users};

/// The request body: who gets emergency access to which patient, why, and for how long.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateGrant {
    /// The account to give access: an active user of the practice, not COMPLIANCE. It may be
    /// the granting admin (recorded as a self-grant).
    granted_to_user_id: UserId,
    /// The patient (of the practice, not deleted).
    patient_id: PatientId,
    /// Why emergency access is needed: 50–2000 characters once trimmed; no control characters
    /// but line breaks and tabs.
    #[schema(min_length = 50, max_length = 2000)]
    justification: String,
    /// How long the grant lasts.
    #[schema(schema_with = duration_schema)]
    duration_minutes: Option<i64>,
}

/// `durationMinutes`: one of the allowed durations; absent or `null` means the default.
fn duration_schema() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .enum_values(Some(
            ALLOWED_DURATIONS_MINUTES
                .iter()
                .map(|minutes| json!(minutes))
                .chain([serde_json::Value::Null]),
        ))
        .default(Some(json!(DEFAULT_DURATION_MINUTES)))
        .description(Some(format!(
            "How long the grant lasts, in minutes (default {DEFAULT_DURATION_MINUTES}); absent or \
             `null` means the default"
        )))
}

/// `{success: true, grantId, expiresAt, message}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BtgGrantCreated {
    /// Always `true`.
    success: bool,
    /// The new grant's id (to revoke or review it).
    grant_id: GrantId,
    /// When the grant stops working.
    expires_at: DateTime<Utc>,
    /// For display, e.g. "Emergency access granted for 60 minutes".
    #[schema(example = "Emergency access granted for 60 minutes")]
    message: String,
}

fn check(body: &CreateGrant) -> Result<(String, i32), AppError> {
    let mut details = Details::new();
    let justification = text(&body.justification, MAX_JUSTIFICATION_LENGTH)
        .and_then(|j| {
            if j.chars().count() < MIN_JUSTIFICATION_LENGTH {
                Err(format!(
                    "must be at least {MIN_JUSTIFICATION_LENGTH} characters"
                ))
            } else {
                Ok(j)
            }
        })
        .map_err(|e| details.insert("justification".into(), e))
        .ok();
    let wanted = body
        .duration_minutes
        .unwrap_or(DEFAULT_DURATION_MINUTES.into());
    let duration = ALLOWED_DURATIONS_MINUTES
        .into_iter()
        .find(|d| i64::from(*d) == wanted);
    if duration.is_none() {
        let allowed: Vec<String> = ALLOWED_DURATIONS_MINUTES
            .iter()
            .map(ToString::to_string)
            .collect();
        details.insert(
            "durationMinutes".into(),
            format!("must be one of {}", allowed.join(", ")),
        );
    }
    match (justification, duration) {
        (Some(justification), Some(duration)) => Ok((justification, duration)),
        _ => Err(AppError::validation(
            "The emergency access request is not valid",
            details,
        )),
    }
}

/// Grant emergency (break-the-glass) access to a patient.
///
/// `POST /api/admin/btg/grants` `{grantedToUserId, patientId, justification, durationMinutes}`
/// → 201 `{success, grantId, expiresAt, message}`. ADMIN only. Until it expires or is revoked,
/// the grantee may do with the patient what a care-team clinician may, each use audited as
/// `BTG_USE_ACCESS`. The grant is audited as `BTG_GRANT_ACCESS` and raises a CRITICAL security
/// signal (a log line, the `haven_btg_events_total` metric and, when configured, the security
/// webhook). A grantee or patient not in the caller's practice answers 404.
#[utoipa::path(
    post,
    path = "/grants",
    tag = "btg",
    request_body = CreateGrant,
    responses(
        (status = 201, description = "The grant is active", body = BtgGrantCreated),
        (status = 400, description = "Invalid input (`VALIDATION_ERROR`, `details` names the fields): a justification too short or too long, a duration not allowed, or a grantee that is disabled or COMPLIANCE", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such user or patient in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The grantee already holds active emergency access to this patient (`CONFLICT`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn create_grant(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<CreateGrant>,
) -> Result<(StatusCode, AppJson<BtgGrantCreated>), AppError> {
    let may = policy::grant(&caller)?;
    let may_use = patients_policy::use_patients(&caller, "create_btg_grant")?;
    let (justification, duration) = check(&body)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let grantee_id = body.granted_to_user_id;
    let Some(grantee) = users::find(&mut tx, grantee_id).await? else {
        let owner = users::organization_of(&mut tx, grantee_id).await?;
        return Err(Denial::not_found(&caller, "user", grantee_id, owner).into());
    };
    if grantee.disabled {
        return Err(AppError::invalid_field(
            "grantedToUserId",
            "must be an active user",
        ));
    }
    if !policy::may_receive(grantee.role) {
        return Err(AppError::invalid_field(
            "grantedToUserId",
            "a COMPLIANCE account cannot be given patient access",
        ));
    }
    let patient = body.patient_id;
    if patients::find(&mut tx, &may_use, patient).await?.is_none() {
        let owner = patients::organization_of(&mut tx, patient).await?;
        return Err(Denial::not_found(&caller, "patient", patient, owner).into());
    }
    store::lock_pair(&mut tx, grantee_id, patient).await?;
    if store::active_for(&mut tx, grantee_id, patient)
        .await?
        .is_some()
    {
        return Err(AppError::new(
            ErrorCode::Conflict,
            "This user already holds active emergency access to this patient",
        ));
    }
    let grant = store::insert(
        &mut tx,
        &may,
        &NewGrant {
            id: GrantId::new(),
            granted_by: caller.user_id,
            granted_to: grantee_id,
            patient,
            justification: &justification,
            duration_minutes: duration,
        },
    )
    .await?;
    let self_grant = grantee_id == caller.user_id;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::BtgGrantAccess)
            .by(caller.actor())
            .with_entity("btg_grant", grant.id)
            .with_patient(patient)
            .with_details(json!({
                "grantId": grant.id,
                "grantedToUserId": grantee_id,
                "grantedToRole": grantee.role,
                "durationMinutes": duration,
                "expiresAt": grant.expires_at,
                "selfGrant": self_grant,
                "justificationLength": justification.chars().count(),
            }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    if self_grant {
        tracing::warn!(grant_id = %grant.id, "emergency access granted to the granting admin");
    }
    state.security_signals().emit(&SecurityEvent::new(
        AuditAction::BtgGrantAccess,
        Severity::Critical,
        caller.organization_id,
        &grant,
    ));
    Ok((
        StatusCode::CREATED,
        AppJson(BtgGrantCreated {
            success: true,
            grant_id: grant.id,
            expires_at: grant.expires_at,
            message: format!("Emergency access granted for {duration} minutes"),
        }),
    ))
}
