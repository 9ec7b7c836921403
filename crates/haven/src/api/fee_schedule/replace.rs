//! `PUT /api/fee-schedule`: replace the practice's fee schedule.

use axum::extract::State;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::charges::{self, ChargeError, FEE_OVERLAP_CONSTRAINT};
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::policy::charges as policy;
use crate::store::charges::{self as store, FeeRow, NewFee};

/// At most this many entries in one schedule.
const MAX_ENTRIES: usize = 2000;

/// One rate in the request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FeeEntry {
    /// The payer it applies to; absent: every payer without its own rate.
    payer_name: Option<String>,
    /// CPT/HCPCS code (4–10 letters or digits).
    cpt_code: String,
    /// Up to four two-character modifiers (the line's, matched exactly).
    modifiers: Option<Vec<String>>,
    /// The rate per unit, in cents (0–100,000,000).
    cents_per_unit: i64,
    /// The first date of service it prices (YYYY-MM-DD); it runs until the next entry of the
    /// same payer, code and modifiers starts.
    #[schema(value_type = String, format = Date)]
    effective_from: String,
}

/// The request body: the whole schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceFeeSchedule {
    /// Every rate (at most 2,000).
    entries: Vec<FeeEntry>,
}

/// One stored rate.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeeView {
    /// The payer; `null` for the default rate.
    payer_name: Option<String>,
    /// CPT/HCPCS code.
    cpt_code: String,
    /// Modifiers.
    modifiers: Vec<String>,
    /// The rate per unit, in cents.
    cents_per_unit: i64,
    /// First date of service priced.
    #[schema(value_type = String, format = Date)]
    effective_from: NaiveDate,
    /// First date no longer priced by it (the next entry's start); `null`: open-ended.
    #[schema(value_type = Option<String>, format = Date)]
    effective_to: Option<NaiveDate>,
}

impl FeeView {
    fn new(row: &FeeRow) -> Self {
        Self {
            payer_name: (!row.payer_name.is_empty()).then(|| row.payer_name.clone()),
            cpt_code: row.cpt_code.clone(),
            modifiers: row
                .modifiers
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect(),
            cents_per_unit: row.cents_per_unit,
            effective_from: row.effective_from,
            effective_to: row.effective_to,
        }
    }
}

/// `{entries}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeeScheduleResponse {
    /// The schedule, by payer, code, modifiers and date.
    entries: Vec<FeeView>,
}

fn parse_entry(i: usize, entry: &FeeEntry, problems: &mut Details) -> Option<NewFee> {
    let mut field = |name: &str, problem: String| {
        problems.insert(format!("entries[{i}].{name}"), problem);
    };
    let payer = entry.payer_name.as_deref().map_or("", str::trim).to_owned();
    if payer.chars().count() > 200 || payer.chars().any(char::is_control) {
        field(
            "payerName",
            "must be at most 200 characters, without control characters".to_owned(),
        );
    } else if entry.payer_name.is_some() && payer.is_empty() {
        field(
            "payerName",
            "must not be blank (leave it out for the default rate)".to_owned(),
        );
    }
    let cpt = charges::parse_cpt(&entry.cpt_code)
        .map_err(|e| field("cptCode", e))
        .ok();
    let modifiers = charges::parse_modifiers(entry.modifiers.as_deref().unwrap_or_default())
        .map_err(|e| field("modifiers", e))
        .ok();
    if !(0..=100_000_000).contains(&entry.cents_per_unit) {
        field("centsPerUnit", "must be from 0 to 100,000,000".to_owned());
    }
    let from = NaiveDate::parse_from_str(entry.effective_from.trim(), "%Y-%m-%d")
        .map_err(|_| field("effectiveFrom", "must be a date (YYYY-MM-DD)".to_owned()))
        .ok();
    Some(NewFee {
        payer_name: payer,
        cpt_code: cpt?,
        modifiers: modifiers?.join(","),
        cents_per_unit: entry.cents_per_unit,
        effective_from: from?,
    })
}

/// Replace the fee schedule.
///
/// `PUT /api/fee-schedule` `{entries:[{payerName?, cptCode, modifiers?, centsPerUnit,
/// effectiveFrom}]}` → `{entries}` with each rate's period: from its `effectiveFrom` to the next
/// start of the same payer, code and modifiers. A new charge is priced by the payer's rate on
/// its date of service, else by the default rate (no `payerName`); charges already made keep
/// their amounts. Two entries of one payer/code/modifiers starting the same day overlap: 409
/// `CONFLICT` (the database's exclusion constraint). ADMIN and BILLING only. Audited as
/// `FEE_SCHEDULE_UPDATE`.
#[utoipa::path(
    put,
    path = "/",
    tag = "charges",
    request_body = ReplaceFeeSchedule,
    responses(
        (status = 200, description = "The schedule stored", body = FeeScheduleResponse),
        (status = 400, description = "A malformed code or date, a negative rate, five modifiers (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not ADMIN or BILLING (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Overlapping rates (`CONFLICT`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn replace_fee_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<ReplaceFeeSchedule>,
) -> Result<AppJson<FeeScheduleResponse>, AppError> {
    let may = policy::manage(&caller, "replace_fee_schedule")?;
    if body.entries.len() > MAX_ENTRIES {
        return Err(AppError::invalid_field(
            "entries",
            format!("at most {MAX_ENTRIES} entries"),
        ));
    }
    let mut problems = Details::new();
    let entries: Vec<NewFee> = body
        .entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| parse_entry(i, e, &mut problems))
        .collect();
    if !problems.is_empty() {
        return Err(AppError::validation(
            "The fee schedule is not valid",
            problems,
        ));
    }
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let stored = store::replace_fee_schedule(&mut tx, &may, &entries, caller.user_id)
        .await
        .map_err(|error| {
            if error
                .as_database_error()
                .is_some_and(|e| e.constraint() == Some(FEE_OVERLAP_CONSTRAINT))
            {
                ChargeError::OverlappingFees
            } else {
                ChargeError::Database(error)
            }
        })?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::FeeScheduleUpdate)
            .by(caller.actor())
            .with_entity("fee_schedule", caller.organization_id)
            .with_details(json!({ "entries": stored.len() }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(FeeScheduleResponse {
        entries: stored.iter().map(FeeView::new).collect(),
    }))
}
