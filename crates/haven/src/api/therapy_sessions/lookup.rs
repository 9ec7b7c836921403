//! Finding one session for a request, with the access decision.

use crate::api::access::visible;
use crate::app::AppState;
use crate::audit::RequestMeta;
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::ids::TherapySessionId;
use crate::policy::Denial;
use crate::policy::patients::{PatientUse, Visible};
use crate::store::sessions_units::{self, SessionRow};

/// Session `id` (locked until the transaction ends when `lock`) as the caller may see it, or
/// the 404 the caller gets: audited `CROSS_TENANT_ACCESS_ATTEMPT` when it is another
/// organization's, `ACCESS_DENIED` when the caller may not see its patient.
pub(crate) async fn find_visible(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    may: &PatientUse,
    id: TherapySessionId,
    lock: bool,
) -> Result<Visible<SessionRow>, AppError> {
    let row = if lock {
        sessions_units::lock(tx, may, id).await?
    } else {
        sessions_units::find(tx, may, id).await?
    };
    let Some(row) = row else {
        let owner = sessions_units::organization_of(tx, id).await?;
        return Err(Denial::not_found(caller, "session", id, owner).into());
    };
    visible(state, tx, caller, meta, may, row).await
}
