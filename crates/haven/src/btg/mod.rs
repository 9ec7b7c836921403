//! Break-the-glass emergency access (SPEC §5, HIPAA §164.312(a)(2)(ii)): an ADMIN opens one
//! patient to one user of the practice for a short, fixed time, with a written justification.
//!
//! * **Grants** live in `btg_grants` (`crate::store::btg`); the HTTP side is `crate::api::btg`.
//! * **Use.** `crate::policy::patient_access` treats an active grant as access to that patient
//!   (what a care-team clinician may do), decided by PostgreSQL's `now()` on every request, so a
//!   grant that expires or is revoked mid-session stops working at once. Every patient request
//!   allowed through a grant calls [`record_use`] (from the one place every single-patient
//!   handler passes: `api::patients::lookup::find_visible`), which audits `BTG_USE_ACCESS` in
//!   the request's transaction and raises the signal.
//! * **Signals** ([`signal`]): grant (CRITICAL), use (HIGH) and revoke (MEDIUM) each write one
//!   `"level":"SECURITY"` JSON line to stdout and are POSTed to
//!   `HAVEN_SECURITY_WEBHOOK_URL` by a background task ([`webhook`]) that never holds up a
//!   request.
//! * **Expiry** ([`expiry`]): a background job records `BTG_EXPIRED` once per lapsed grant.

pub mod expiry;
pub mod signal;
pub mod webhook;

use serde_json::json;
use uuid::Uuid;

use crate::app::AppState;
use crate::audit::{self, AccessMethod, AuditAction, AuditEvent, RequestMeta};
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::store::btg as store;

pub use signal::{SecurityEvent, SecuritySignals, Severity};

/// The durations a grant may have, in minutes.
pub const ALLOWED_DURATIONS_MINUTES: [i32; 6] = [15, 30, 60, 120, 240, 480];
/// The duration of a grant that names none.
pub const DEFAULT_DURATION_MINUTES: i32 = 60;
/// The shortest acceptable justification, in characters (after trimming).
pub const MIN_JUSTIFICATION_LENGTH: usize = 50;
/// The longest acceptable justification, in characters.
pub const MAX_JUSTIFICATION_LENGTH: usize = 2000;

/// Audits one request allowed through grant `grant` (`BTG_USE_ACCESS`, in the request's
/// transaction, so it commits with whatever the request does and before any PHI leaves) and
/// raises the HIGH signal.
///
/// The signal goes out now, before the request's commit: an alarm about an attempted use that
/// then fails is better than a use nobody was alerted to.
pub async fn record_use(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    patient: Uuid,
    grant: Uuid,
) -> Result<(), AppError> {
    let Some(row) = store::find(tx, grant, false).await? else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "the grant that allowed the request is gone"
        )));
    };
    audit::record(
        tx,
        &AuditEvent::new(AuditAction::BtgUseAccess)
            .with_actor(caller.user_id, caller.role)
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
