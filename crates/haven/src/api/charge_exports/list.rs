//! `GET /api/charge-exports`.

use axum::extract::State;

use super::codec::{ExportList, ExportView};
use crate::api::pagination::{Page, PageQuery};
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::query::AppQuery;
use crate::policy::charges as policy;
use crate::store::charge_exports;

/// The practice's charge exports.
///
/// `GET /api/charge-exports?page=&limit=` → `{exports, pagination}`, newest first. Records only
/// (no patient data). ADMIN and BILLING only.
#[utoipa::path(
    get,
    path = "/",
    tag = "charges",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of exports", body = ExportList),
        (status = 403, description = "Not ADMIN or BILLING (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn list_charge_exports(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(query): AppQuery<PageQuery>,
) -> Result<AppJson<ExportList>, AppError> {
    let may = policy::manage(&caller, "list_charge_exports")?;
    let page = Page::try_from(query)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (rows, total) = charge_exports::list(&mut tx, &may, page.limit, page.offset()).await?;
    tx.commit().await?;
    Ok(AppJson(ExportList {
        exports: rows.iter().map(ExportView::new).collect(),
        pagination: page.info(total),
    }))
}
