//! Finding one patient for a request, with the access decision.

use crate::api::access::visible;
use crate::app::AppState;
use crate::audit::RequestMeta;
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::ids::PatientId;
use crate::policy::Denial;
use crate::policy::patients::{self, PatientUse, Visible};
use crate::store::patients::{self as store, PatientRow};

/// Patient `id` as the caller may see it, or the 404 the caller gets: audited as
/// `CROSS_TENANT_ACCESS_ATTEMPT` when it belongs to another organization, as `ACCESS_DENIED`
/// when it is theirs but not visible to them. Access through an emergency grant is audited
/// `BTG_USE_ACCESS` on the way.
pub async fn find_visible(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    may: &PatientUse,
    id: PatientId,
) -> Result<Visible<PatientRow>, AppError> {
    let Some(row) = store::find(tx, may, id).await? else {
        let owner = store::organization_of(tx, id).await?;
        return Err(Denial::not_found(caller, "patient", id, owner).into());
    };
    visible(state, tx, caller, meta, may, row).await
}

/// The usual start of a single-patient request: the caller may use patients at all (else the
/// 403 for `operation`), a tenant transaction, and the patient as the caller may see it (else
/// the 404 of [`find_visible`]).
pub async fn open_visible(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    id: PatientId,
    operation: &'static str,
) -> Result<(TenantTx, Visible<PatientRow>), AppError> {
    let may = patients::use_patient(caller, operation, id)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let patient = find_visible(state, &mut tx, caller, meta, &may, id).await?;
    Ok((tx, patient))
}
