//! `PATCH /api/charges/{id}`: billing's corrections of an open charge's claim line.

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{ChargeResponse, ChargeView};
use super::lookup::find;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::charges::{self, ChargeError};
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::ChargeId;
use crate::notes::format::parse_icd10_list;
use crate::policy::charges as policy;
use crate::store::charges::{self as store, Changes};

/// The request body: what to change (at least one), and the version read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateCharge {
    /// Up to four two-character modifiers (replaces the list).
    modifiers: Option<Vec<String>>,
    /// Up to twelve ICD-10-CM codes (replaces the list).
    diagnosis_codes: Option<Vec<String>>,
    /// One to four 1-based positions in the (new) diagnosis codes.
    diagnosis_pointers: Option<Vec<i64>>,
    /// Two-digit place of service.
    place_of_service: Option<String>,
    /// The charge's `version` as read.
    #[schema(minimum = 1)]
    expected_version: i32,
}

/// Correct a charge.
///
/// `PATCH /api/charges/{id}` `{modifiers?, diagnosisCodes?, diagnosisPointers?,
/// placeOfService?, expectedVersion}` → `{charge}`, its holds re-evaluated. Units, CPT code and
/// amount are not editable: they come from the ledger, the authorization and the fee schedule.
/// Only PENDING and READY charges change (an exported or void one: 409 `INVALID_STATE`); a
/// stale `expectedVersion` answers 409 `CONFLICT`. ADMIN and BILLING only. Audited as
/// `CHARGE_UPDATE`.
#[utoipa::path(
    patch,
    path = "/{id}",
    tag = "charges",
    params(("id" = Uuid, Path, description = "The charge's id")),
    request_body = UpdateCharge,
    responses(
        (status = 200, description = "The charge after the change", body = ChargeResponse),
        (status = 400, description = "Five modifiers, a malformed code, a pointer beyond the codes, nothing to change (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not ADMIN or BILLING (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such charge in the practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Exported or void (`INVALID_STATE`), or `expectedVersion` is stale (`CONFLICT`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn update_charge(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<ChargeId>,
    AppJson(body): AppJson<UpdateCharge>,
) -> Result<AppJson<ChargeResponse>, AppError> {
    let may = policy::manage(&caller, "update_charge")?;
    if body.modifiers.is_none()
        && body.diagnosis_codes.is_none()
        && body.diagnosis_pointers.is_none()
        && body.place_of_service.is_none()
    {
        return Err(AppError::invalid_field(
            "modifiers",
            "give modifiers, diagnosisCodes, diagnosisPointers or placeOfService to change",
        ));
    }
    let modifiers = body
        .modifiers
        .as_deref()
        .map(charges::parse_modifiers)
        .transpose()
        .map_err(|e| AppError::invalid_field("modifiers", e))?;
    let codes = body
        .diagnosis_codes
        .as_deref()
        .map(parse_icd10_list)
        .transpose()
        .map_err(|e| AppError::invalid_field("diagnosisCodes", e))?;
    let place = body
        .place_of_service
        .as_deref()
        .map(charges::parse_place_of_service)
        .transpose()
        .map_err(|e| AppError::invalid_field("placeOfService", e))?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let row = find(&mut tx, &caller, &may, id, true).await?;
    if !matches!(row.status.as_str(), "PENDING" | "READY") {
        return Err(ChargeError::InvalidState {
            status: row.status,
            action: "change",
        }
        .into());
    }
    if row.version != body.expected_version {
        return Err(ChargeError::StaleVersion.into());
    }
    // Pointers are checked against the codes the charge will have.
    let code_count = codes.as_ref().map_or(row.diagnosis_codes.len(), Vec::len);
    let pointers = match body.diagnosis_pointers.as_deref() {
        Some(list) => Some(
            charges::parse_pointers(list, code_count)
                .map_err(|e| AppError::invalid_field("diagnosisPointers", e))?,
        ),
        None if row
            .diagnosis_pointers
            .iter()
            .any(|p| usize::try_from(*p).map_or(true, |p| p > code_count)) =>
        {
            return Err(AppError::invalid_field(
                "diagnosisPointers",
                "the charge's pointers go beyond the new codes: give diagnosisPointers too",
            ));
        }
        None => None,
    };
    let changes = Changes {
        modifiers,
        diagnosis_codes: codes,
        diagnosis_pointers: pointers,
        place_of_service: place,
    };
    let updated = store::update(&mut tx, &may, id, body.expected_version, &changes)
        .await?
        .ok_or(ChargeError::StaleVersion)?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::ChargeUpdate)
            .by(caller.actor())
            .with_entity("charge", id)
            .with_patient(updated.patient_id)
            .with_details(json!({
                "version": updated.version,
                "status": updated.status,
                "modifiersChanged": changes.modifiers.is_some(),
                "diagnosisCodesChanged": changes.diagnosis_codes.is_some(),
                "diagnosisPointersChanged": changes.diagnosis_pointers.is_some(),
                "placeOfServiceChanged": changes.place_of_service.is_some(),
            }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(ChargeResponse {
        charge: ChargeView::new(&updated),
    }))
}
