//! `POST /api/admin/btg/grants/{id}/review` (COMPLIANCE, or an ADMIN outside the grant).

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{OVERSEERS, find_for_change, text};
use crate::api::access::require_role;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, Outcome};
use crate::auth::caller::Caller;
use crate::btg::metrics;
use crate::domain::Role;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::store::btg as store;

/// The longest review notes, in characters.
const MAX_NOTES_LENGTH: usize = 2000;

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewOutcome {
    /// The emergency justified the access.
    Appropriate,
    /// It did not.
    Inappropriate,
}

impl ReviewOutcome {
    fn parse(value: &str) -> Result<Self, AppError> {
        match value {
            "appropriate" => Ok(Self::Appropriate),
            "inappropriate" => Ok(Self::Inappropriate),
            _ => Err(AppError::invalid_field(
                "outcome",
                "must be appropriate or inappropriate",
            )),
        }
    }

    const fn as_str(self) -> &'static str {
        match self {
            Self::Appropriate => "appropriate",
            Self::Inappropriate => "inappropriate",
        }
    }
}

/// The request body. Notes are required for an `inappropriate` verdict.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReviewGrant {
    outcome: String,
    notes: Option<String>,
}

/// `POST /api/admin/btg/grants/{id}/review` `{outcome, notes}` → `{success, message}`. A grant
/// is reviewed once (409 `INVALID_STATE` after); an ADMIN who granted or holds it may not review
/// it (403, audited).
pub async fn review_grant(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<ReviewGrant>,
) -> Result<AppJson<Value>, AppError> {
    require_role(&state, &caller, &meta, OVERSEERS, "review_btg_grant").await?;
    let outcome = ReviewOutcome::parse(&body.outcome)?;
    let notes = match body.notes.as_deref().map(str::trim) {
        None | Some("") if outcome == ReviewOutcome::Inappropriate => {
            return Err(AppError::invalid_field(
                "notes",
                "are required for an inappropriate outcome",
            ));
        }
        None | Some("") => None,
        Some(notes) => {
            Some(text(notes, MAX_NOTES_LENGTH).map_err(|e| AppError::invalid_field("notes", e))?)
        }
    };
    let tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (mut tx, grant) = find_for_change(&state, tx, &caller, &meta, id).await?;
    let involved =
        grant.granted_by_user_id == caller.user_id || grant.granted_to_user_id == caller.user_id;
    if caller.role == Role::Admin && involved {
        tx.rollback().await?;
        let event = AuditEvent::new(AuditAction::AccessDenied)
            .with_outcome(Outcome::Denied)
            .with_actor(caller.user_id, caller.role)
            .with_entity("btg_grant", id)
            .with_details(json!({ "operation": "review_btg_grant", "reason": "own_grant" }))
            .with_request(&meta);
        audit::record_alone(state.db(), caller.organization_id, &event).await?;
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "An admin who granted or holds this emergency access cannot review it",
        ));
    }
    if grant.reviewed_at.is_some() {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            "The emergency access grant is already reviewed",
        ));
    }
    store::review(
        &mut tx,
        id,
        caller.user_id,
        outcome.as_str(),
        notes.as_deref(),
    )
    .await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::BtgReview)
            .with_actor(caller.user_id, caller.role)
            .with_entity("btg_grant", id)
            .with_patient(grant.patient_id)
            .with_details(json!({
                "grantId": id,
                "outcome": outcome.as_str(),
                "grantActive": grant.is_active(),
            }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    metrics::record(AuditAction::BtgReview);
    Ok(AppJson(json!({
        "success": true,
        "message": "Emergency access review recorded",
    })))
}
