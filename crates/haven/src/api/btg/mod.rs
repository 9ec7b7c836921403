//! `/api/admin/btg`: break-the-glass emergency access (SPEC §5). Admins grant and revoke,
//! compliance officers (and admins outside the grant) review; the rules live in `crate::btg`.
//!
//! Who may do what is `crate::policy::btg`'s decision: ADMIN grants; ADMIN and COMPLIANCE see
//! the configuration and the grants (COMPLIANCE with patient ids only) and revoke; COMPLIANCE,
//! or an ADMIN who neither granted nor holds the grant, reviews. A platform operator gets 403
//! here even when acting in a practice.

mod config;
mod create;
mod list;
mod review;
mod revoke;

use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::ids::GrantId;
use crate::policy::Denial;
use crate::store::btg::{self as store, GrantRow};

/// The routes, relative to `/api/admin/btg`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(config::get_btg_config))
        .routes(routes!(list::list_grants, create::create_grant))
        .routes(routes!(revoke::revoke_grant))
        .routes(routes!(review::review_grant))
}

/// `{success: true, message}`: a revocation or review that took effect.
#[derive(Debug, Serialize, ToSchema)]
pub struct BtgMessage {
    /// Always `true`.
    success: bool,
    /// What happened, for display.
    message: &'static str,
}

impl BtgMessage {
    /// A success with `message`.
    const fn new(message: &'static str) -> Self {
        Self {
            success: true,
            message,
        }
    }
}

/// Grant `id` of the caller's organization, row-locked for a change, or the 404 the caller gets
/// (audited `CROSS_TENANT_ACCESS_ATTEMPT` when it is another organization's). On a 404 the
/// transaction is rolled back first.
pub(crate) async fn find_for_change(
    mut tx: TenantTx,
    caller: &Caller,
    id: GrantId,
) -> Result<(TenantTx, GrantRow), AppError> {
    if let Some(grant) = store::find(&mut tx, id, true).await? {
        return Ok((tx, grant));
    }
    let owner = store::organization_of(&mut tx, id).await?;
    tx.rollback().await?;
    Err(Denial::not_found(caller, "btg_grant", id, owner).into())
}

/// A required free-text field: trimmed, `1..=max` characters, no control characters but line
/// breaks and tabs.
pub(crate) fn text(value: &str, max: usize) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("is required".into());
    }
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("must not contain control characters".into());
    }
    Ok(value.to_owned())
}
