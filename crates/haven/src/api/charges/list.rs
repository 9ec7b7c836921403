//! `GET /api/charges`.

use std::collections::BTreeSet;

use axum::extract::State;
use chrono::{Days, NaiveDate};
use serde::Deserialize;
use serde_json::json;

use super::codec::{ChargeList, ChargeView};
use crate::api::pagination::Page;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::ids::PatientId;
use crate::policy::charges as policy;
use crate::store::charges::{self, Filter};

/// The query: a page, and filters (all optional).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ChargeQuery {
    /// The page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<i64>,
    /// Items per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `PENDING`, `READY`, `EXPORTED` or `VOID`.
    status: Option<String>,
    /// One patient's.
    patient_id: Option<PatientId>,
    /// One payer's (exact name).
    payer_name: Option<String>,
    /// Dates of service from this day (YYYY-MM-DD).
    #[param(example = "2027-03-01")]
    from: Option<String>,
    /// ...through this day, included (YYYY-MM-DD).
    #[param(example = "2027-03-31")]
    to: Option<String>,
}

/// The statuses a charge has.
pub(crate) const STATUSES: [&str; 4] = ["PENDING", "READY", "EXPORTED", "VOID"];

fn day(field: &str, text: Option<&str>) -> Result<Option<NaiveDate>, AppError> {
    text.map(|t| {
        NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d")
            .map_err(|_| AppError::invalid_field(field, "must be a date (YYYY-MM-DD)"))
    })
    .transpose()
}

fn filter(query: &ChargeQuery) -> Result<Filter, AppError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            let s = s.trim().to_ascii_uppercase();
            STATUSES.contains(&s.as_str()).then_some(s).ok_or_else(|| {
                AppError::invalid_field("status", "must be PENDING, READY, EXPORTED or VOID")
            })
        })
        .transpose()?;
    let from = day("from", query.from.as_deref())?;
    let to = day("to", query.to.as_deref())?;
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(AppError::invalid_field("to", "must not be before from"));
    }
    Ok(Filter {
        status,
        patient_id: query.patient_id,
        payer_name: query.payer_name.as_deref().map(|p| p.trim().to_owned()),
        from,
        to: to.and_then(|t| t.checked_add_days(Days::new(1))),
    })
}

/// The practice's charges.
///
/// `GET /api/charges?status=&patientId=&payerName=&from=&to=&page=&limit=` → `{charges,
/// pagination}`, by date of service (`from`/`to` are dates of service, both included). ADMIN
/// and BILLING only (others 403). Audited as one `CHARGE_LIST` per patient shown.
#[utoipa::path(
    get,
    path = "/",
    tag = "charges",
    params(ChargeQuery),
    responses(
        (status = 200, description = "A page of charges", body = ChargeList),
        (status = 400, description = "A malformed filter (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not ADMIN or BILLING (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn list_charges(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<ChargeQuery>,
) -> Result<AppJson<ChargeList>, AppError> {
    let may = policy::manage(&caller, "list_charges")?;
    let page = Page::from_query(query.page, query.limit)?;
    let filter = filter(&query)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (rows, total) = charges::list(&mut tx, &may, &filter, page.limit, page.offset()).await?;
    let patients: BTreeSet<PatientId> = rows.iter().map(|r| r.patient_id).collect();
    let events: Vec<AuditEvent> = patients
        .into_iter()
        .map(|patient| {
            let shown = rows.iter().filter(|r| r.patient_id == patient).count();
            AuditEvent::new(AuditAction::ChargeList)
                .by(caller.actor())
                .with_entity("patient", patient)
                .with_patient(patient)
                .with_details(json!({ "charges": shown }))
                .with_request(&meta)
        })
        .collect();
    audit::record_many(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(AppJson(ChargeList {
        charges: rows.iter().map(ChargeView::new).collect(),
        pagination: page.info(total),
    }))
}
