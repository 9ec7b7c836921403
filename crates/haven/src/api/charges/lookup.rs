//! Finding one charge for a request.

use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::ids::ChargeId;
use crate::policy::Denial;
use crate::policy::charges::ManageCharges;
use crate::store::charges::{self, ChargeRow};

/// Charge `id` of the caller's practice (locked until the transaction ends when `lock`), or the
/// 404 the caller gets: audited `CROSS_TENANT_ACCESS_ATTEMPT` when it is another
/// organization's.
pub(super) async fn find(
    tx: &mut TenantTx,
    caller: &Caller,
    may: &ManageCharges,
    id: ChargeId,
    lock: bool,
) -> Result<ChargeRow, AppError> {
    if let Some(row) = charges::find(tx, may, id, lock).await? {
        return Ok(row);
    }
    let owner = charges::organization_of(tx, id).await?;
    Err(Denial::not_found(caller, "charge", id, owner).into())
}
