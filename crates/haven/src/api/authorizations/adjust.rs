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
use crate::ids::{AuthorizationId, TherapySessionId};
use crate::policy::units as policy;
use crate::store::authorizations;
use crate::store::charges::Rederived;
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
    /// A COMPLETED session of this authorization whose consumed units this corrects: the
    /// ledger row names it, and its charge is re-derived in the same transaction (units and
    /// amount; void at 0 units; an exported charge goes out again as a replacement, code 7,
    /// or a void, code 8). Without it, the adjustment is the authorization's alone.
    session_id: Option<TherapySessionId>,
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
///
/// With `sessionId` (a COMPLETED session of this authorization) the adjustment corrects what
/// that session consumed: its `ADJUST` row names the session, and in the same transaction the
/// session's charge is re-derived from the ledger — units and amount (the charge's rate), a new
/// version; a charge already exported is carried by the next export as a replacement
/// (frequency code 7), once. A correction to 0 units voids the charge (an exported one goes
/// out as a void, code 8); a session that billed nothing and now has units gets its charge.
/// Refused: a session of another authorization (400), not COMPLETED (409 `INVALID_STATE`),
/// units going below 0 (422 `INVALID_ADJUSTMENT`: "Adjustment would result in negative session
/// units"), a charge already exported as a replacement (409 `INVALID_STATE`). Audited as
/// `CHARGE_UPDATE`, `CHARGE_VOID` or `CHARGE_CREATE` for the charge too.
#[utoipa::path(
    post,
    path = "/{id}/adjust",
    tag = "authorizations",
    params(("id" = Uuid, Path, description = "The authorization's id")),
    request_body = Adjust,
    responses(
        (status = 200, description = "Adjusted", body = AuthorizationAdjusted),
        (status = 400, description = "`adjustment` 0, no `reason`, or `sessionId` of another authorization (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such authorization or session in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The session is not COMPLETED, or its charge was already exported as a replacement (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "`usedUnits` would exceed `totalUnits` or fall below what sessions hold (`INVALID_ADJUSTMENT`: \"Adjustment would result in negative used units\" or \"Adjustment would exceed total units\"), or the session's units below 0 (\"Adjustment would result in negative session units\")", body = crate::http::openapi::ErrorEnvelope),
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
    let (balance, crossed) = match body.session_id {
        None => {
            ledger::adjust(
                &mut tx,
                &may,
                &found,
                adjustment,
                reason,
                Some(caller.user_id),
            )
            .await??
        }
        Some(session_id) => {
            // Lock order: the session, then the authorization (the ledger's everywhere).
            let session = crate::api::therapy_sessions::lookup::find_visible(
                &state, &mut tx, &caller, &meta, &may_use, session_id, true,
            )
            .await?;
            let correction = ledger::correct(
                &mut tx,
                &may,
                &found,
                &session,
                adjustment,
                reason,
                Some(caller.user_id),
            )
            .await??;
            record_charge(
                &mut tx,
                &caller,
                &meta,
                access.method,
                session_id,
                &correction,
            )
            .await?;
            (correction.balance, correction.crossed_low_threshold)
        }
    };
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::AuthorizationAdjust)
            .by(caller.actor())
            .with_access_method(access.method)
            .with_entity("authorization", id)
            .with_patient(row.patient_id)
            .with_details(json!({
                "adjustment": adjustment,
                "sessionId": body.session_id,
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

/// Audits what a correction did to the session's charge: `CHARGE_CREATE` when the session now
/// bills, `CHARGE_UPDATE` (units, amount, version) when its charge followed the ledger,
/// `CHARGE_VOID` when its units went to 0.
async fn record_charge(
    tx: &mut crate::db::TenantTx,
    caller: &Caller,
    meta: &audit::RequestMeta,
    method: audit::AccessMethod,
    session_id: TherapySessionId,
    correction: &ledger::Correction,
) -> Result<(), AppError> {
    let (action, charge, details) = match &correction.charge {
        Rederived::Unbilled | Rederived::AlreadyReplaced(_) => return Ok(()),
        Rederived::Created(charge) => (
            AuditAction::ChargeCreate,
            charge,
            json!({
                "sessionId": session_id,
                "units": charge.units,
                "chargeCents": charge.charge_cents,
                "status": charge.status,
                "cause": "unitCorrection",
            }),
        ),
        Rederived::Changed { before, charge } => (
            AuditAction::ChargeUpdate,
            charge,
            json!({
                "version": charge.version,
                "status": charge.status,
                "units": { "from": before, "to": charge.units },
                "chargeCents": charge.charge_cents,
                "cause": "unitCorrection",
            }),
        ),
        Rederived::Voided { before, charge } => (
            AuditAction::ChargeVoid,
            charge,
            json!({
                "to": charge.status,
                "units": { "from": before, "to": 0 },
                "cause": "unitCorrection",
            }),
        ),
    };
    audit::record(
        tx,
        &AuditEvent::new(action)
            .by(caller.actor())
            .with_access_method(method)
            .with_entity("charge", charge.id)
            .with_patient(charge.patient_id)
            .with_details(details)
            .with_request(meta),
    )
    .await?;
    Ok(())
}
