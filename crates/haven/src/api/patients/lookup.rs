//! Finding one patient for a request, with the access decision and the audited refusals.

use serde_json::json;
use uuid::Uuid;

use crate::api::access::not_found;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, Outcome, RequestMeta};
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::{AppError, ErrorCode};
use crate::policy::{self, PatientAccess};
use crate::store::patients::{self, PatientRow};

/// Refuses (403, audited `ACCESS_DENIED`) a role that may not do `operation` to patients.
pub async fn refuse(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    operation: &str,
    patient: Option<Uuid>,
) -> AppError {
    let mut event = AuditEvent::new(AuditAction::AccessDenied)
        .with_outcome(Outcome::Denied)
        .with_actor(caller.user_id, caller.role)
        .with_details(json!({ "operation": operation }))
        .with_request(meta);
    if let Some(patient) = patient {
        event = event.with_entity("patient", patient).with_patient(patient);
    }
    if let Err(error) = audit::record_alone(state.db(), caller.organization_id, &event).await {
        return error.into();
    }
    AppError::new(ErrorCode::Forbidden, ErrorCode::Forbidden.default_message())
}

/// Patient `id` and the caller's access to it, or the 404 the caller gets: audited as
/// `CROSS_TENANT_ACCESS_ATTEMPT` when it belongs to another organization, as `ACCESS_DENIED`
/// when it is theirs but not visible to them. Access through an emergency grant is audited
/// `BTG_USE_ACCESS` here, in `tx`, for every handler that finds its patient this way.
pub async fn find_visible(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    id: Uuid,
) -> Result<(PatientRow, PatientAccess), AppError> {
    let Some(row) = patients::find(tx, id).await? else {
        let owner = patients::organization_of(tx, id).await?;
        return Err(not_found(state, caller, meta, "patient", id, owner).await);
    };
    match policy::patient_access(tx, caller, id).await? {
        Some(access) => {
            if let Some(grant) = access.grant_id {
                crate::btg::record_use(state, tx, caller, meta, id, grant).await?;
            }
            Ok((row, access))
        }
        None => {
            let event = AuditEvent::new(AuditAction::AccessDenied)
                .with_outcome(Outcome::Denied)
                .with_actor(caller.user_id, caller.role)
                .with_entity("patient", id)
                .with_patient(id)
                .with_details(json!({ "reason": "not_on_care_team" }))
                .with_request(meta);
            audit::record_alone(state.db(), caller.organization_id, &event).await?;
            Err(AppError::not_found())
        }
    }
}

/// The usual start of a single-patient request: the caller may use patients at all (else an
/// audited 403 for `operation`), a tenant transaction, and the patient with the caller's access
/// (else the audited 404 of [`find_visible`]).
pub async fn open_visible(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    id: Uuid,
    operation: &str,
) -> Result<(TenantTx, PatientRow, PatientAccess), AppError> {
    if !policy::may_use_patients(caller) {
        return Err(refuse(state, caller, meta, operation, Some(id)).await);
    }
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (row, access) = find_visible(state, &mut tx, caller, meta, id).await?;
    Ok((tx, row, access))
}
