//! `POST /api/admin/btg/grants/{id}/revoke` (ADMIN, COMPLIANCE).

use crate::ids::GrantId;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{BtgMessage, find_for_change, text};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::btg::{SecurityEvent, Severity};
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::policy::btg as policy;
use crate::store::btg as store;

/// The longest revocation reason, in characters.
const MAX_REASON_LENGTH: usize = 1000;

/// The answer's message (SPEC §5).
const REVOKED: &str = "Emergency access revoked successfully";

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RevokeGrant {
    /// Why the grant is revoked: 1–1000 characters once trimmed, no control characters but line
    /// breaks and tabs.
    #[schema(min_length = 1, max_length = 1000, example = "The emergency is over")]
    reason: String,
}

/// Revoke an emergency access grant.
///
/// `POST /api/admin/btg/grants/{id}/revoke` `{reason}` → `{success, message}`. ADMIN and
/// COMPLIANCE. The grant stops working when the revocation commits: the grantee's next request
/// for the patient is refused. Audited as `BTG_REVOKE_ACCESS` and raises a MEDIUM security
/// signal (a log line, the `haven_btg_events_total` metric and, when configured, the security
/// webhook).
#[utoipa::path(
    post,
    path = "/grants/{id}/revoke",
    tag = "btg",
    params(("id" = Uuid, Path, description = "The grant's id")),
    request_body = RevokeGrant,
    responses(
        (status = 200, description = "The grant is revoked", body = BtgMessage, example = json!({"success": true, "message": REVOKED})),
        (status = 409, description = "The grant is already revoked or has expired (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn revoke_grant(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<GrantId>,
    AppJson(body): AppJson<RevokeGrant>,
) -> Result<AppJson<BtgMessage>, AppError> {
    let may = policy::oversee(&caller, "revoke_btg_grant")?;
    let reason =
        text(&body.reason, MAX_REASON_LENGTH).map_err(|e| AppError::invalid_field("reason", e))?;
    let tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (mut tx, grant) = find_for_change(tx, &caller, id).await?;
    if grant.revoked_at.is_some() {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            "The emergency access grant is already revoked",
        ));
    }
    if grant.expired {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            "The emergency access grant has already expired",
        ));
    }
    store::revoke(&mut tx, &may, id, caller.user_id, &reason).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::BtgRevokeAccess)
            .by(caller.actor())
            .with_entity("btg_grant", id)
            .with_patient(grant.patient_id)
            .with_details(json!({
                "grantId": id,
                "grantedToUserId": grant.granted_to_user_id,
                "expiresAt": grant.expires_at,
            }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    state.security_signals().emit(&SecurityEvent::new(
        AuditAction::BtgRevokeAccess,
        Severity::Medium,
        caller.organization_id,
        &grant,
    ));
    Ok(AppJson(BtgMessage::new(REVOKED)))
}
