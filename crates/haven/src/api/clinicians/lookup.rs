//! Finding the clinician a calendar request names.

use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::domain::Role;
use crate::http::error::AppError;
use crate::ids::UserId;
use crate::policy::Denial;
use crate::store::users;

/// That `id` is an active CLINICIAN of the caller's organization, or the 404: audited
/// `CROSS_TENANT_ACCESS_ATTEMPT` when the user is another organization's.
pub(crate) async fn active_clinician(
    tx: &mut TenantTx,
    caller: &Caller,
    id: UserId,
) -> Result<(), AppError> {
    match users::find(tx, id).await? {
        Some(user) if user.role == Role::Clinician && !user.disabled => Ok(()),
        Some(_) => Err(AppError::new(
            crate::http::error::ErrorCode::NotFound,
            "No active clinician with this id",
        )),
        None => {
            let owner = users::organization_of(tx, id).await?;
            Err(Denial::not_found(caller, "user", id, owner).into())
        }
    }
}
