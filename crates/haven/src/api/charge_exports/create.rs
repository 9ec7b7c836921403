//! `POST /api/charge-exports`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{ExportResponse, ExportView};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::policy::charges as policy;
use crate::store::charge_exports::{self, NewExport};

/// The longest range of service dates one export covers.
const MAX_RANGE_DAYS: i64 = 366;

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateExport {
    /// `csv` (one row per line) or `837p-json` (claims with the 837P loops' data).
    format: String,
    /// First date of service (YYYY-MM-DD).
    #[schema(value_type = String, format = Date)]
    from: String,
    /// Last date of service, included (YYYY-MM-DD); at most 366 days after `from`.
    #[schema(value_type = String, format = Date)]
    to: String,
    /// Only this payer's charges.
    payer_name: Option<String>,
}

fn date(field: &str, text: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::invalid_field(field, "must be a date (YYYY-MM-DD)"))
}

/// Export charges.
///
/// `POST /api/charge-exports` `{format, from, to, payerName?}` → 201 `{export:{id, format,
/// chargeCount, totalChargeCents, ...}}`: the READY charges with dates of service in
/// `[from, to]` (then EXPORTED, frequency code 1), and the exported charges in that range voided
/// since (code 8) or changed since (code 7). A charge is exported once per code (a unique
/// constraint), and exports racing never take the same charge. Nothing to export: 422
/// `VALIDATION_ERROR`. Download the file with `GET /api/charge-exports/{id}/download`. ADMIN
/// and BILLING only. Audited as `CHARGE_EXPORT`.
#[utoipa::path(
    post,
    path = "/",
    tag = "charges",
    request_body = CreateExport,
    responses(
        (status = 201, description = "The export", body = ExportResponse),
        (status = 400, description = "A malformed format or date, `to` before `from` (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not ADMIN or BILLING (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "Nothing to export in the range (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn create_charge_export(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<CreateExport>,
) -> Result<(StatusCode, AppJson<ExportResponse>), AppError> {
    let may = policy::manage(&caller, "create_charge_export")?;
    let format = match body.format.trim() {
        "csv" => "csv",
        "837p-json" => "837p-json",
        _ => {
            return Err(AppError::invalid_field(
                "format",
                "must be csv or 837p-json",
            ));
        }
    };
    let from = date("from", &body.from)?;
    let to = date("to", &body.to)?;
    if to < from {
        return Err(AppError::invalid_field("to", "must not be before from"));
    }
    if (to - from).num_days() > MAX_RANGE_DAYS {
        return Err(AppError::invalid_field(
            "to",
            format!("at most {MAX_RANGE_DAYS} days after from"),
        ));
    }
    let payer = body.payer_name.as_deref().map(str::trim);
    if payer.is_some_and(|p| p.is_empty() || p.chars().count() > 200) {
        return Err(AppError::invalid_field(
            "payerName",
            "must be 1–200 characters",
        ));
    }
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let export = NewExport {
        format,
        from,
        to,
        payer_name: payer,
        by: caller.user_id,
    };
    let Some(row) = charge_exports::create(&mut tx, &may, &export).await? else {
        return Err(AppError::with_details(
            ErrorCode::Incomplete,
            "No charges to export in the range",
            [(
                "from".to_owned(),
                "no READY, voided or changed charges in [from, to]".to_owned(),
            )]
            .into_iter()
            .collect(),
        ));
    };
    // How many patients the export reaches: breach detection flags one export of many.
    let patients = charge_exports::patients(&mut tx, &may, row.id).await?.len();
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::ChargeExport)
            .by(caller.actor())
            .with_entity("charge_export", row.id)
            .with_details(json!({
                "format": row.format,
                "from": row.from_date,
                "to": row.to_date,
                "charges": row.charge_count,
                "patientCount": patients,
            }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        AppJson(ExportResponse {
            export: ExportView::new(&row),
        }),
    ))
}
