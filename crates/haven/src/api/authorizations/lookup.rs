//! Finding one authorization for a request, with the access decision. Shared with
//! `/api/sessions`. Who may work with units is `crate::policy::units`'s decision.

use crate::api::access::visible;
use crate::app::AppState;
use crate::audit::RequestMeta;
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::ids::AuthorizationId;
use crate::policy::Denial;
use crate::policy::patients::{PatientUse, Visible};
use crate::store::authorizations::{self, AuthorizationRow};

/// The 404 for an authorization that is not in the caller's organization: audited
/// `CROSS_TENANT_ACCESS_ATTEMPT` (naming the id and both organizations) when it is another's.
pub(crate) async fn missing(
    tx: &mut TenantTx,
    caller: &Caller,
    id: AuthorizationId,
) -> Result<Denial, AppError> {
    let owner = authorizations::organization_of(tx, id).await?;
    Ok(Denial::not_found(caller, "authorization", id, owner))
}

/// Authorization `id` as the caller may see it, or the audited 404.
pub(crate) async fn find_visible(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    may: &PatientUse,
    id: AuthorizationId,
) -> Result<Visible<AuthorizationRow>, AppError> {
    let Some(row) = authorizations::find(tx, may, id).await? else {
        return Err(missing(tx, caller, id).await?.into());
    };
    visible(state, tx, caller, meta, may, row).await
}
