//! Finding one appointment for a request, with the access decision.

use crate::api::access::visible;
use crate::app::AppState;
use crate::audit::RequestMeta;
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::ids::AppointmentId;
use crate::policy::Denial;
use crate::policy::patients::{PatientUse, Visible};
use crate::store::appointments::{self, AppointmentRow};

/// Appointment `id` (locked until the transaction ends when `lock`) as the caller may see it,
/// or the 404: audited `CROSS_TENANT_ACCESS_ATTEMPT` when it is another organization's,
/// `ACCESS_DENIED` when the caller may not see its patient.
pub(crate) async fn find_visible(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    may: &PatientUse,
    id: AppointmentId,
    lock: bool,
) -> Result<Visible<AppointmentRow>, AppError> {
    let Some(row) = appointments::find(tx, may, id, lock).await? else {
        let owner = appointments::organization_of(tx, id).await?;
        return Err(Denial::not_found(caller, "appointment", id, owner).into());
    };
    visible(state, tx, caller, meta, may, row).await
}

/// Whether `error` is a deadlock or serialization failure (the request may run again).
pub(crate) fn retryable(error: &AppError) -> bool {
    matches!(error, AppError::Internal(cause)
        if cause.downcast_ref::<sqlx::Error>().is_some_and(crate::scheduling::is_retryable))
}
