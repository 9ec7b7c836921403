//! `GET /api/audit-logs`.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::filter::AuditQuery;
use crate::api::pagination::{Page, PageQuery, Pagination};
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::policy::audit_log as policy;
use crate::store::audit_logs::{self, AuditLogEntry};

/// A page of audit events.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogList {
    /// The events of this page, newest first.
    audit_logs: Vec<AuditLogEntry>,
    /// Where the page is in the whole result.
    pagination: Pagination,
}

/// Search the audit log
///
/// The caller's organization's audit events, newest first, filtered by action, user, patient
/// and time (all optional, combined with AND), a page at a time (ADMIN, COMPLIANCE). Every
/// event recorded before the request is included. Events never carry PHI: patients appear by
/// id only.
#[utoipa::path(
    get,
    path = "/",
    tag = "audit",
    params(AuditQuery, PageQuery),
    responses((status = 200, description = "A page of events, newest first", body = AuditLogList)),
)]
pub async fn list_audit_logs(
    State(state): State<AppState>,
    caller: Caller,
    Meta(_meta): Meta,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<AppJson<AuditLogList>, AppError> {
    policy::read(&caller, "list_audit_logs")?;
    if query.format.is_some() {
        return Err(AppError::invalid_field(
            "format",
            "only for /api/audit-logs/export",
        ));
    }
    let filter = query.filter()?;
    let page = Page::from_query(query.page, query.limit)?;
    state.sealer().flush().await?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (entries, total) = audit_logs::list(&mut tx, &filter, page.limit, page.offset()).await?;
    tx.commit().await?;
    Ok(AppJson(AuditLogList {
        audit_logs: entries,
        pagination: page.info(total),
    }))
}
