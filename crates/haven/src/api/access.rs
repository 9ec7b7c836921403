//! What every resource handler shares between `crate::policy`'s answer and the response.
//!
//! Refusals need nothing here: a handler returns the policy's `Denial` (as `AppError`) and the
//! refusal layer (`crate::http::refusal`) records it. What lives here is the one step every
//! handler of a patient's data takes: turning a row it found into a [`Visible`] row, auditing
//! the use of an emergency grant on the way.

use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, AccessMethod, AuditAction, AuditEvent, RequestMeta};
use crate::auth::caller::Caller;
use crate::btg::{SecurityEvent, Severity};
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::ids::{GrantId, PatientId};
use crate::policy::patients::{self, OfPatient, PatientUse, Visible};
use crate::store::btg;

/// The caller's access to `row`, or the hidden 404 (audited by the refusal layer). An access
/// through an emergency grant is audited `BTG_USE_ACCESS` here, in `tx`, and signalled.
pub async fn visible<T: OfPatient>(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    may: &PatientUse,
    row: T,
) -> Result<Visible<T>, AppError> {
    let visible = patients::visible(tx, caller, may, row).await?;
    if let Some(grant) = visible.access().grant_id {
        record_grant_use(state, tx, caller, meta, visible.patient_id(), grant).await?;
    }
    Ok(visible)
}

/// Audits one request allowed through grant `grant` (`BTG_USE_ACCESS`, in the request's
/// transaction, so it commits with whatever the request does and before any PHI leaves) and
/// raises the HIGH signal.
///
/// The signal goes out now, before the request's commit: an alarm about an attempted use that
/// then fails is better than a use nobody was alerted to.
pub(crate) async fn record_grant_use(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    patient: PatientId,
    grant: GrantId,
) -> Result<(), AppError> {
    let Some(row) = btg::find(tx, grant, false).await? else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "the grant that allowed the request is gone"
        )));
    };
    audit::record(
        tx,
        &AuditEvent::new(AuditAction::BtgUseAccess)
            .by(caller.actor())
            .with_access_method(AccessMethod::BreakTheGlass)
            .with_entity("btg_grant", grant)
            .with_patient(patient)
            .with_details(json!({
                "grantId": grant,
                "grantedByUserId": row.granted_by_user_id,
                "expiresAt": row.expires_at,
            }))
            .with_request(meta),
    )
    .await?;
    state.security_signals().emit(&SecurityEvent::new(
        AuditAction::BtgUseAccess,
        Severity::High,
        tx.organization_id(),
        &row,
    ));
    Ok(())
}
