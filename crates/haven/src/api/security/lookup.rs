//! Finding one incident for a request.

use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::ids::IncidentId;
use crate::policy::Denial;
use crate::policy::security::ReadIncidents;
use crate::store::incidents::{self, IncidentRow};

/// Incident `id` of the caller's organization (locked when `lock`), or the 404: audited
/// `CROSS_TENANT_ACCESS_ATTEMPT` when it is another organization's.
pub(super) async fn find(
    tx: &mut TenantTx,
    caller: &Caller,
    may: &ReadIncidents,
    id: IncidentId,
    lock: bool,
) -> Result<IncidentRow, AppError> {
    match incidents::find(tx, may, id, lock).await? {
        Some(row) => Ok(row),
        None => {
            let owner = incidents::organization_of(tx, id).await?;
            Err(Denial::not_found(caller, "security_incident", id, owner).into())
        }
    }
}
