//! Who may work with units, and finding one authorization for a request, with the audited
//! refusals. Shared with `/api/sessions`. Access to a patient's units is access to the patient
//! (`policy::patient_access`): ADMIN and BILLING for every patient of the practice, a CLINICIAN
//! for the patients on their care team; COMPLIANCE and a platform operator outside a practice
//! for none.

use serde_json::json;
use uuid::Uuid;

use crate::api::access::not_found;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, Outcome, RequestMeta};
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::domain::Role;
use crate::http::error::{AppError, ErrorCode};
use crate::policy::{self, PatientAccess};
use crate::store::authorizations::{self, AuthorizationRow};

/// Whether the caller may work with authorizations and sessions at all.
#[must_use]
pub(crate) fn may_use_units(caller: &Caller) -> bool {
    policy::may_use_patients(caller)
}

/// Whether the caller may create and adjust authorizations (ADMIN, BILLING).
#[must_use]
pub(crate) fn may_manage_authorizations(caller: &Caller) -> bool {
    may_use_units(caller) && matches!(caller.role, Role::Admin | Role::SuperAdmin | Role::Billing)
}

/// Refuses (403, audited `ACCESS_DENIED`) an operation the caller's role may not do.
pub(crate) async fn refuse(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    operation: &str,
    entity: Option<(&'static str, Uuid)>,
) -> AppError {
    let mut event = AuditEvent::new(AuditAction::AccessDenied)
        .with_outcome(Outcome::Denied)
        .with_actor(caller.user_id, caller.role)
        .with_details(json!({ "operation": operation }))
        .with_request(meta);
    if let Some((kind, id)) = entity {
        event = event.with_entity(kind, id);
    }
    if let Err(error) = audit::record_alone(state.db(), caller.organization_id, &event).await {
        return error.into();
    }
    AppError::new(ErrorCode::Forbidden, ErrorCode::Forbidden.default_message())
}

/// The 404 for a resource of a patient the caller may not see (audited `ACCESS_DENIED`).
pub(crate) async fn hidden(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    entity_type: &'static str,
    id: Uuid,
    patient: Uuid,
) -> AppError {
    let event = AuditEvent::new(AuditAction::AccessDenied)
        .with_outcome(Outcome::Denied)
        .with_actor(caller.user_id, caller.role)
        .with_entity(entity_type, id)
        .with_patient(patient)
        .with_details(json!({ "reason": "not_on_care_team" }))
        .with_request(meta);
    if let Err(error) = audit::record_alone(state.db(), caller.organization_id, &event).await {
        return error.into();
    }
    AppError::not_found()
}

/// The caller's access to `patient`, or the audited 404 for `entity_type` `id`.
pub(crate) async fn access_to(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    entity_type: &'static str,
    id: Uuid,
    patient: Uuid,
) -> Result<PatientAccess, AppError> {
    match policy::patient_access(tx, caller, patient).await? {
        Some(access) => {
            // A use of an emergency grant is audited and signalled like any other.
            if let Some(grant) = access.grant_id {
                crate::btg::record_use(state, tx, caller, meta, patient, grant).await?;
            }
            Ok(access)
        }
        None => Err(hidden(state, caller, meta, entity_type, id, patient).await),
    }
}

/// The 404 for an authorization that is not in the caller's organization: audited
/// `CROSS_TENANT_ACCESS_ATTEMPT` (naming the id and both organizations) when it is another's.
pub(crate) async fn missing(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    id: Uuid,
) -> AppError {
    match authorizations::organization_of(tx, id).await {
        Ok(owner) => not_found(state, caller, meta, "authorization", id, owner).await,
        Err(error) => error.into(),
    }
}

/// Authorization `id` and the caller's access to its patient, or the audited 404.
pub(crate) async fn find_visible(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    id: Uuid,
) -> Result<(AuthorizationRow, PatientAccess), AppError> {
    let Some(row) = authorizations::find(tx, id).await? else {
        return Err(missing(state, tx, caller, meta, id).await);
    };
    let access = access_to(state, tx, caller, meta, "authorization", id, row.patient_id).await?;
    Ok((row, access))
}
