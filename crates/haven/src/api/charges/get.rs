//! `GET /api/charges/{id}`.

use axum::extract::State;

use super::codec::{ChargeResponse, ChargeView};
use super::lookup::find;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::ChargeId;
use crate::policy::charges as policy;

/// One charge.
///
/// `GET /api/charges/{id}` → `{charge}` with its `holdReasons` and `ledgerUnits` (the
/// session's net units in the unit ledger now). ADMIN and BILLING only (others 403); another
/// practice's charge answers 404, audited `CROSS_TENANT_ACCESS_ATTEMPT`. Audited as
/// `CHARGE_READ` of the charge's patient.
#[utoipa::path(
    get,
    path = "/{id}",
    tag = "charges",
    params(("id" = Uuid, Path, description = "The charge's id")),
    responses(
        (status = 200, description = "The charge", body = ChargeResponse),
        (status = 403, description = "Not ADMIN or BILLING (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such charge in the practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn get_charge(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<ChargeId>,
) -> Result<AppJson<ChargeResponse>, AppError> {
    let may = policy::manage(&caller, "get_charge")?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let row = find(&mut tx, &caller, &may, id, false).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::ChargeRead)
            .by(caller.actor())
            .with_entity("charge", id)
            .with_patient(row.patient_id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(ChargeResponse {
        charge: ChargeView::new(&row),
    }))
}
