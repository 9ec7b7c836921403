//! `GET /api/authorizations`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{Authorization, AuthorizationStatus, to_authorization};
use crate::api::pagination::{Page, Pagination};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::ids::PatientId;
use crate::policy::patients as policy;
use crate::store::authorizations::{self, Filter};
use crate::units::AUTHORIZATION_STATUSES;

/// `?page&limit&patientId&status&expiringWithinDays&lowUnits`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AuthorizationQuery {
    /// The page, from 1 (default 1).
    #[param(minimum = 1, maximum = 1_000_000)]
    page: Option<i64>,
    /// Items per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Only this patient's authorizations.
    patient_id: Option<PatientId>,
    /// Only those with this effective status (case-insensitive).
    #[param(value_type = Option<AuthorizationStatus>)]
    status: Option<String>,
    /// Only current ones (`ACTIVE` or `EXHAUSTED`) whose end date is within this many days
    /// from today (UTC), for renewals: 0–3660.
    #[param(minimum = 0, maximum = 3660)]
    expiring_within_days: Option<i64>,
    /// `true`: only those whose available units are below their low-units threshold.
    low_units: Option<bool>,
}

/// A page of authorizations.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationList {
    /// The authorizations on this page, soonest-ending first.
    authorizations: Vec<Authorization>,
    /// Where this page is.
    pagination: Pagination,
}

fn filter(query: &AuthorizationQuery) -> Result<Filter, AppError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            let s = s.trim().to_ascii_uppercase();
            if AUTHORIZATION_STATUSES.contains(&s.as_str()) {
                Ok(s)
            } else {
                Err(AppError::invalid_field(
                    "status",
                    "must be ACTIVE, EXHAUSTED, EXPIRED or CANCELLED",
                ))
            }
        })
        .transpose()?;
    let expiring_within_days = query
        .expiring_within_days
        .map(|days| {
            i32::try_from(days)
                .ok()
                .filter(|d| (0..=3660).contains(d))
                .ok_or_else(|| {
                    AppError::invalid_field(
                        "expiringWithinDays",
                        "must be a whole number from 0 to 3660",
                    )
                })
        })
        .transpose()?;
    Ok(Filter {
        patient_id: query.patient_id,
        status,
        expiring_within_days,
        low_units: query.low_units.unwrap_or(false),
    })
}

/// List authorizations.
///
/// Soonest-ending first, only those of patients the caller may see: ADMIN and BILLING every
/// patient of the practice, a CLINICIAN those on their care team; COMPLIANCE may not (403).
/// `expiringWithinDays=N` lists the current ones ending within N days (renewals),
/// `lowUnits=true` those below their low-units threshold. Each one returned is audited
/// (`PATIENT_LIST`, with its patient's id) before the response leaves.
#[utoipa::path(
    get,
    path = "/",
    tag = "authorizations",
    params(AuthorizationQuery),
    responses((status = 200, description = "A page of authorizations", body = AuthorizationList)),
)]
pub async fn list_authorizations(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<AuthorizationQuery>,
) -> Result<AppJson<AuthorizationList>, AppError> {
    let may = policy::list(&caller, "list_authorizations")?;
    let page = Page::from_query(query.page, query.limit)?;
    let filter = filter(&query)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (rows, total) =
        authorizations::list(&mut tx, &may, &filter, page.limit, page.offset()).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(
            to_authorization(
                &state,
                &mut tx,
                row,
                crate::policy::units::sees_member_ids(&caller),
            )
            .await?,
        );
    }
    let events: Vec<AuditEvent> = rows
        .iter()
        .map(|row| {
            AuditEvent::new(AuditAction::PatientList)
                .by(caller.actor())
                .with_access_method(may.method())
                .with_entity("authorization", row.id)
                .with_patient(row.patient_id)
                .with_details(json!({ "page": page.page, "returned": rows.len() }))
                .with_request(&meta)
        })
        .collect();
    audit::record_many(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(AppJson(AuthorizationList {
        authorizations: items,
        pagination: page.info(total),
    }))
}
