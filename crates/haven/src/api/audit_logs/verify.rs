//! `GET /api/audit-logs/verify`.

use axum::extract::State;

use crate::app::AppState;
use crate::audit::verify::{ChainReport, verify_chain};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::policy::audit_log as policy;

/// Verify the audit log's hash chain
///
/// Re-computes the caller's organization's chain (`hash = SHA-256(prevHash ‖ row)`) and checks
/// it against the signed checkpoints (ADMIN, COMPLIANCE). `valid: false` and
/// `firstBrokenSequence` report the first event that was altered, removed or reordered.
#[utoipa::path(
    get,
    path = "/verify",
    tag = "audit",
    responses((status = 200, description = "The result of the check (a broken chain is still a 200)", body = ChainReport)),
)]
pub async fn verify_audit_log(
    State(state): State<AppState>,
    caller: Caller,
    Meta(_meta): Meta,
) -> Result<AppJson<ChainReport>, AppError> {
    policy::read(&caller, "verify_audit_log")?;
    state.sealer().flush().await?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let report = verify_chain(&mut tx, state.checkpoint_key()).await?;
    tx.commit().await?;
    Ok(AppJson(report))
}
