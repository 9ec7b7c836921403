//! `POST /api/admin/btg/grants/{id}/review` (COMPLIANCE, or an ADMIN outside the grant).

use crate::ids::GrantId;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{BtgMessage, find_for_change, text};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::policy::btg as policy;
use crate::store::btg as store;

/// The longest review notes, in characters.
const MAX_NOTES_LENGTH: usize = 2000;

/// The answer's message.
const REVIEWED: &str = "Emergency access review recorded";

/// The verdict of a grant's review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = BtgReviewOutcome)]
pub enum ReviewOutcome {
    /// The emergency justified the access.
    Appropriate,
    /// It did not.
    Inappropriate,
}

impl ReviewOutcome {
    /// The outcome named `value` (as requested and as stored), if any.
    pub(super) fn from_name(value: &str) -> Option<Self> {
        match value {
            "appropriate" => Some(Self::Appropriate),
            "inappropriate" => Some(Self::Inappropriate),
            _ => None,
        }
    }

    fn parse(value: &str) -> Result<Self, AppError> {
        Self::from_name(value).ok_or_else(|| {
            AppError::invalid_field("outcome", "must be appropriate or inappropriate")
        })
    }

    const fn as_str(self) -> &'static str {
        match self {
            Self::Appropriate => "appropriate",
            Self::Inappropriate => "inappropriate",
        }
    }
}

/// The request body. Notes are required for an `inappropriate` verdict.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReviewGrant {
    /// Whether the emergency justified the access (exact, lower case).
    #[schema(value_type = ReviewOutcome)]
    outcome: String,
    /// What the reviewer found: at most 2000 characters once trimmed, no control characters but
    /// line breaks and tabs. Required (non-blank) for `inappropriate`; for `appropriate` it may
    /// be absent, `null` or blank.
    #[schema(max_length = 2000)]
    notes: Option<String>,
}

/// Review an emergency access grant.
///
/// `POST /api/admin/btg/grants/{id}/review` `{outcome, notes}` → `{success, message}`.
/// COMPLIANCE, or an ADMIN who neither granted nor holds the grant (an involved ADMIN gets 403,
/// audited `ACCESS_DENIED`). A grant may be reviewed while active or after; once only. Audited
/// as `BTG_REVIEW`.
#[utoipa::path(
    post,
    path = "/grants/{id}/review",
    tag = "btg",
    params(("id" = Uuid, Path, description = "The grant's id")),
    request_body = ReviewGrant,
    responses(
        (status = 200, description = "The review is recorded", body = BtgMessage, example = json!({"success": true, "message": REVIEWED})),
        (status = 403, description = "The caller's role may not review grants, or is an ADMIN who granted or holds this one (`FORBIDDEN`); a cookie request without its CSRF token (`CSRF_FAILED`); an administrator without MFA", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The grant is already reviewed (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn review_grant(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<GrantId>,
    AppJson(body): AppJson<ReviewGrant>,
) -> Result<AppJson<BtgMessage>, AppError> {
    let may = policy::oversee(&caller, "review_btg_grant")?;
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
    let (mut tx, grant) = find_for_change(tx, &caller, id).await?;
    may.may_review(
        &caller,
        id,
        grant.granted_by_user_id,
        grant.granted_to_user_id,
    )?;
    if grant.reviewed_at.is_some() {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            "The emergency access grant is already reviewed",
        ));
    }
    store::review(
        &mut tx,
        &may,
        id,
        caller.user_id,
        outcome.as_str(),
        notes.as_deref(),
    )
    .await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::BtgReview)
            .by(caller.actor())
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
    Ok(AppJson(BtgMessage::new(REVIEWED)))
}
