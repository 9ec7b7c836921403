//! `POST /api/authorizations/{id}/adjust` (ADMIN, BILLING).

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::codec::to_json;
use super::lookup::{find_visible, may_manage_authorizations, refuse};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::store::authorizations;
use crate::units::ledger::{self, EXCESSIVE_ADJUSTMENT, NEGATIVE_ADJUSTMENT, Refusal};

/// The request body: a whole number of units to add to `usedUnits` (negative gives units back).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Adjust {
    adjustment: i64,
    reason: String,
}

/// `POST /api/authorizations/{id}/adjust` → `{success, authorization}`; 422 `INVALID_ADJUSTMENT`
/// when `usedUnits` would leave `0..=totalUnits`.
pub async fn adjust_authorization(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<Uuid>,
    AppJson(body): AppJson<Adjust>,
) -> Result<AppJson<Value>, AppError> {
    if !may_manage_authorizations(&caller) {
        return Err(refuse(
            &state,
            &caller,
            &meta,
            "adjust_authorization",
            Some(("authorization", id)),
        )
        .await);
    }
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
    let (row, access) = find_visible(&state, &mut tx, &caller, &meta, id).await?;
    // Beyond i32 it is beyond any total (at most 100,000 units): out of bounds either way.
    let Ok(adjustment) = i32::try_from(body.adjustment) else {
        let message = if body.adjustment < 0 {
            NEGATIVE_ADJUSTMENT
        } else {
            EXCESSIVE_ADJUSTMENT
        };
        return Err(Refusal::InvalidAdjustment(message).into());
    };
    let (balance, crossed) =
        ledger::adjust(&mut tx, &row, adjustment, reason, Some(caller.user_id)).await??;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::AuthorizationAdjust)
            .with_actor(caller.user_id, caller.role)
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
                .with_actor(caller.user_id, caller.role)
                .with_access_method(access.method)
                .with_request(&meta),
        )
        .await?;
    }
    let row = authorizations::find(&mut tx, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let authorization = to_json(&state, &mut tx, &row).await?;
    tx.commit().await?;
    Ok(AppJson(
        json!({ "success": true, "authorization": authorization }),
    ))
}
