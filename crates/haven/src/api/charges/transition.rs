//! `POST /api/charges/{id}/hold`, `/release`, `/void`, each with a reason. The charge is
//! locked for the transaction, so transitions of one charge happen one at a time.

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{ChargeResponse, ChargeView};
use super::lookup::find;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, RequestMeta};
use crate::auth::caller::Caller;
use crate::charges::{ChargeError, parse_reason};
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::ChargeId;
use crate::policy::charges as policy;
use crate::store::charges::{self as store, ChargeRow};

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChargeReason {
    /// Why: 1–500 characters once trimmed, no control characters.
    reason: String,
}

fn reason(body: &ChargeReason) -> Result<String, AppError> {
    parse_reason(&body.reason).map_err(|e| AppError::invalid_field("reason", e))
}

async fn finish(
    mut tx: TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    action: AuditAction,
    row: &ChargeRow,
    previous_status: &str,
) -> Result<AppJson<ChargeResponse>, AppError> {
    // The reason is billing's free text: it stays on the charge, not in the trail.
    audit::record(
        &mut tx,
        &AuditEvent::new(action)
            .by(caller.actor())
            .with_entity("charge", row.id)
            .with_patient(row.patient_id)
            .with_details(json!({ "from": previous_status, "to": row.status }))
            .with_request(meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(ChargeResponse {
        charge: ChargeView::new(row),
    }))
}

async fn open(
    state: &AppState,
    caller: &Caller,
    operation: &'static str,
    id: ChargeId,
) -> Result<(TenantTx, policy::ManageCharges, ChargeRow), AppError> {
    let may = policy::manage(caller, operation)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let row = find(&mut tx, caller, &may, id, true).await?;
    Ok((tx, may, row))
}

fn refuse(row: ChargeRow, action: &'static str) -> AppError {
    ChargeError::InvalidState {
        status: row.status,
        action,
    }
    .into()
}

/// Hold a charge by hand.
///
/// `POST /api/charges/{id}/hold` `{reason}` → `{charge}` with the `MANUAL` hold (PENDING until
/// released). Only PENDING and READY charges (else 409 `INVALID_STATE`). ADMIN and BILLING
/// only. Audited as `CHARGE_HOLD`.
#[utoipa::path(
    post,
    path = "/{id}/hold",
    tag = "charges",
    params(("id" = Uuid, Path, description = "The charge's id")),
    request_body = ChargeReason,
    responses(
        (status = 200, description = "The charge, held", body = ChargeResponse),
        (status = 400, description = "No reason (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Exported or void (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn hold_charge(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<ChargeId>,
    AppJson(body): AppJson<ChargeReason>,
) -> Result<AppJson<ChargeResponse>, AppError> {
    let why = reason(&body)?;
    let (mut tx, may, row) = open(&state, &caller, "hold_charge", id).await?;
    let previous = row.status.clone();
    let Some(held) = store::set_manual_hold(&mut tx, &may, id, Some(&why)).await? else {
        return Err(refuse(row, "hold"));
    };
    finish(
        tx,
        &caller,
        &meta,
        AuditAction::ChargeHold,
        &held,
        &previous,
    )
    .await
}

/// Release a charge's manual hold.
///
/// `POST /api/charges/{id}/release` `{reason}` → `{charge}` without the `MANUAL` hold (READY
/// when no computed hold remains). A charge not held by hand → 409 `INVALID_STATE`. ADMIN and
/// BILLING only. Audited as `CHARGE_RELEASE`.
#[utoipa::path(
    post,
    path = "/{id}/release",
    tag = "charges",
    params(("id" = Uuid, Path, description = "The charge's id")),
    request_body = ChargeReason,
    responses(
        (status = 200, description = "The charge, released", body = ChargeResponse),
        (status = 400, description = "No reason (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Not held by hand (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn release_charge(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<ChargeId>,
    AppJson(body): AppJson<ChargeReason>,
) -> Result<AppJson<ChargeResponse>, AppError> {
    reason(&body)?;
    let (mut tx, may, row) = open(&state, &caller, "release_charge", id).await?;
    if row.manual_hold_reason.is_none() {
        return Err(AppError::new(
            crate::http::error::ErrorCode::InvalidState,
            "The charge is not held by hand",
        ));
    }
    let previous = row.status.clone();
    let Some(released) = store::set_manual_hold(&mut tx, &may, id, None).await? else {
        return Err(refuse(row, "release"));
    };
    finish(
        tx,
        &caller,
        &meta,
        AuditAction::ChargeRelease,
        &released,
        &previous,
    )
    .await
}

/// Void a charge.
///
/// `POST /api/charges/{id}/void` `{reason}` → `{charge}` VOID, for good; its session may then
/// not be billed again by Haven (the completion made its one charge). A voided exported charge
/// is to be carried by the next export as a void (frequency code 8). Already void → 409
/// `INVALID_STATE`. ADMIN and BILLING only. Audited as `CHARGE_VOID`.
#[utoipa::path(
    post,
    path = "/{id}/void",
    tag = "charges",
    params(("id" = Uuid, Path, description = "The charge's id")),
    request_body = ChargeReason,
    responses(
        (status = 200, description = "The charge, void", body = ChargeResponse),
        (status = 400, description = "No reason (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Already void (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn void_charge(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<ChargeId>,
    AppJson(body): AppJson<ChargeReason>,
) -> Result<AppJson<ChargeResponse>, AppError> {
    let why = reason(&body)?;
    let (mut tx, may, row) = open(&state, &caller, "void_charge", id).await?;
    let previous = row.status.clone();
    let Some(voided) = store::void(&mut tx, &may, id, &why).await? else {
        return Err(refuse(row, "void"));
    };
    finish(
        tx,
        &caller,
        &meta,
        AuditAction::ChargeVoid,
        &voided,
        &previous,
    )
    .await
}
