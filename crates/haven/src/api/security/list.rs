//! `GET /api/security/incidents` (practice: ADMIN, COMPLIANCE; platform: SUPER_ADMIN).

use axum::extract::State;
use serde::Deserialize;

use super::codec::{IncidentListResponse, parse_status};
use crate::api::pagination::Page;
use crate::api::time_range::bound;
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::query::AppQuery;
use crate::policy::security as policy;
use crate::security::{RuleKind, Severity};
use crate::store::incidents::{self, IncidentFilter};

/// `?status=&severity=&ruleKind=&from=&to=&page=&limit=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// Workflow status (`OPEN`, `INVESTIGATING`, …).
    status: Option<String>,
    /// `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    severity: Option<String>,
    /// A rule kind (`EXCESSIVE_PHI_ACCESS`, …).
    rule_kind: Option<String>,
    /// Discovered at or after (date or RFC 3339).
    from: Option<String>,
    /// Discovered before (a date: through that day).
    to: Option<String>,
    /// The page, from 1 (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<i64>,
    /// Incidents per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

/// List security incidents
///
/// The organization's incidents, newest discovery first: a practice's for its ADMIN and
/// COMPLIANCE users, the platform chain's for platform operators. Other roles get 403.
#[utoipa::path(
    get,
    path = "/incidents",
    tag = "security",
    params(IncidentQuery),
    responses(
        (status = 200, description = "A page of incidents", body = IncidentListResponse),
        (status = 400, description = "A bad filter (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not allowed (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn list_incidents(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(query): AppQuery<IncidentQuery>,
) -> Result<AppJson<IncidentListResponse>, AppError> {
    let may = policy::read(&caller, "list_security_incidents")?;
    let page = Page::from_query(query.page, query.limit)?;
    let filter = IncidentFilter {
        status: query
            .status
            .as_deref()
            .map(|s| parse_status("status", s).map(|s| s.as_str()))
            .transpose()?,
        severity: query
            .severity
            .as_deref()
            .map(|s| {
                Severity::parse(s).map(Severity::as_str).ok_or_else(|| {
                    AppError::invalid_field("severity", "must be LOW, MEDIUM, HIGH or CRITICAL")
                })
            })
            .transpose()?,
        rule_kind: query
            .rule_kind
            .as_deref()
            .map(|s| {
                RuleKind::parse(s)
                    .map(RuleKind::as_str)
                    .ok_or_else(|| AppError::invalid_field("ruleKind", "is not a rule kind"))
            })
            .transpose()?,
        from: query
            .from
            .as_deref()
            .map(|t| bound("from", t, false))
            .transpose()?,
        to: query
            .to
            .as_deref()
            .map(|t| bound("to", t, true))
            .transpose()?,
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && to <= from
    {
        return Err(AppError::invalid_field("to", "must be after from"));
    }
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (rows, total) = incidents::list(&mut tx, &may, &filter, page.limit, page.offset()).await?;
    tx.commit().await?;
    Ok(AppJson(IncidentListResponse {
        incidents: rows.into_iter().map(Into::into).collect(),
        pagination: page.info(total),
    }))
}
