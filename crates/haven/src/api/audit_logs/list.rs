//! `GET /api/audit-logs`.

use axum::extract::State;
use serde_json::{Value, json};

use super::READERS;
use super::filter::AuditQuery;
use crate::api::access::require_role;
use crate::api::pagination::Page;
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::store::audit_logs;

/// `GET /api/audit-logs?action&userId&patientId&from&to&page&limit` → `{auditLogs, pagination}`,
/// newest first. Events recorded before the request are sealed first, so none is missing.
pub async fn list_audit_logs(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<AppJson<Value>, AppError> {
    require_role(&state, &caller, &meta, READERS, "list_audit_logs").await?;
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
    Ok(AppJson(
        json!({ "auditLogs": entries, "pagination": page.info(total) }),
    ))
}
