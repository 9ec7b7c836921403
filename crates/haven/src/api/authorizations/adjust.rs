//! `POST /api/authorizations/{id}/adjust` (ADMIN, BILLING).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{Authorization, to_authorization};
use super::lookup::find_visible;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::AuthorizationId;
use crate::policy::units as policy;
use crate::store::authorizations;
use crate::units::ledger::{self, EXCESSIVE_ADJUSTMENT, NEGATIVE_ADJUSTMENT, Refusal};

/// The request body: a whole number of units to add to `usedUnits` (negative gives units back).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = AdjustAuthorization)]
pub struct Adjust {
    /// Units to add to `usedUnits`; negative gives units back. Not 0.
    #[schema(example = -2)]
    adjustment: i64,
    /// Why (kept in the unit ledger): 1–300 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = r"^\s*[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*\s*$"
    )]
    reason: String,
}

/// `{"success": true, "authorization": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationAdjusted {
    /// Always `true`.
    success: bool,
    /// The authorization after the adjustment.
    authorization: Authorization,
}

/// Adjust an authorization's used units by hand.
///
/// ADMIN or BILLING (a CLINICIAN or COMPLIANCE gets 403). The adjustment is one append-only
/// `ADJUST` row of the unit ledger, with the caller and the reason. It is refused with 422
/// `INVALID_ADJUSTMENT` when `usedUnits` would exceed `totalUnits`, or fall below 0 or below
/// the units still held by scheduled and in-progress sessions. Audited as
/// `AUTHORIZATION_ADJUST`, and `AUTHORIZATION_LOW_UNITS` when the available units fall below
/// the low-units threshold.
#[utoipa::path(
    post,
    path = "/{id}/adjust",
    tag = "authorizations",
    params(("id" = Uuid, Path, description = "The authorization's id")),
    request_body = Adjust,
    responses(
        (status = 200, description = "Adjusted", body = AuthorizationAdjusted),
        (status = 422, description = "`usedUnits` would exceed `totalUnits` or fall below what sessions hold (`INVALID_ADJUSTMENT`: \"Adjustment would result in negative used units\" or \"Adjustment would exceed total units\")", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn adjust_authorization(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<AuthorizationId>,
    AppJson(body): AppJson<Adjust>,
) -> Result<AppJson<AuthorizationAdjusted>, AppError> {
    let may = policy::manage_authorizations(&caller, "adjust_authorization", Some(id))?;
    let may_use = policy::use_units(&caller, "adjust_authorization")?;
    if body.adjustment == 0 {
        return Err(AppError::invalid_field("adjustment", "must not be 0"));
    }
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 300 || reason.chars().any(char::is_control) {
        return Err(AppError::invalid_field(
            "reason",
            "must be 1 to 300 characters of text",
        ));
    }
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let found = find_visible(&state, &mut tx, &caller, &meta, &may_use, id).await?;
    let (row, access) = (found.row(), *found.access());
    // Beyond the largest total (100,000 units) it is out of bounds whatever the balance; the
    // bound also keeps `used_units + adjustment` far from int4's range in the database.
    let in_reach = body.adjustment.unsigned_abs() <= super::create::MAX_TOTAL_UNITS.unsigned_abs();
    let Some(adjustment) = i32::try_from(body.adjustment).ok().filter(|_| in_reach) else {
        let message = if body.adjustment < 0 {
            NEGATIVE_ADJUSTMENT
        } else {
            EXCESSIVE_ADJUSTMENT
        };
        return Err(Refusal::InvalidAdjustment(message).into());
    };
    let (balance, crossed) = ledger::adjust(
        &mut tx,
        &may,
        &found,
        adjustment,
        reason,
        Some(caller.user_id),
    )
    .await??;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::AuthorizationAdjust)
            .by(caller.actor())
            .with_access_method(access.method)
            .with_entity("authorization", id)
            .with_patient(row.patient_id)
            .with_details(json!({
                "adjustment": adjustment,
                "usedUnits": balance.used_units,
                "availableUnits": balance.available_units(),
            }))
            .with_request(&meta),
    )
    .await?;
    if crossed {
        audit::record(
            &mut tx,
            &ledger::low_units_event(&balance)
                .by(caller.actor())
                .with_access_method(access.method)
                .with_request(&meta),
        )
        .await?;
    }
    let row = authorizations::find(&mut tx, &may_use, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let authorization = to_authorization(
        &state,
        &mut tx,
        &row,
        crate::policy::units::sees_member_ids(&caller),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(AuthorizationAdjusted {
        success: true,
        authorization,
    }))
}
