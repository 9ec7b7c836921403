//! Finding one session for a request, with the access decision and the audited refusals.

use uuid::Uuid;

use crate::api::access::not_found;
use crate::api::authorizations::lookup::access_to;
use crate::app::AppState;
use crate::audit::RequestMeta;
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::policy::PatientAccess;
use crate::store::sessions_units::{self, SessionRow};

/// Session `id` (locked until the transaction ends when `lock`) and the caller's access to its
/// patient, or the 404 the caller gets: audited `CROSS_TENANT_ACCESS_ATTEMPT` when it is
/// another organization's, `ACCESS_DENIED` when the caller may not see its patient.
pub(super) async fn find_visible(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    id: Uuid,
    lock: bool,
) -> Result<(SessionRow, PatientAccess), AppError> {
    let row = if lock {
        sessions_units::lock(tx, id).await?
    } else {
        sessions_units::find(tx, id).await?
    };
    let Some(row) = row else {
        let owner = sessions_units::organization_of(tx, id).await?;
        return Err(not_found(state, caller, meta, "session", id, owner).await);
    };
    let access = access_to(state, tx, caller, meta, "session", id, row.patient_id).await?;
    Ok((row, access))
}
