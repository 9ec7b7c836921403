//! `GET /api/admin/organizations` (SUPER_ADMIN).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::pagination::{Page, PageQuery, Pagination};
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::policy::organizations as policy;
use crate::store::organizations::{self, Organization};

/// A page of organizations.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationList {
    organizations: Vec<Organization>,
    pagination: Pagination,
}

/// `GET /api/admin/organizations?page&limit` → `{organizations, pagination}`.
#[utoipa::path(
    get,
    path = "/",
    tag = "organizations",
    params(PageQuery),
    responses((status = 200, description = "A page of practices, newest first", body = OrganizationList)),
)]
pub async fn list_organizations(
    State(state): State<AppState>,
    caller: Caller,
    Meta(_meta): Meta,
    AppQuery(query): AppQuery<PageQuery>,
) -> Result<AppJson<OrganizationList>, AppError> {
    policy::operate(&caller, "list_organizations")?;
    let page = Page::try_from(query)?;
    let (items, total) = organizations::list_all(state.db(), page.limit, page.offset()).await?;
    Ok(AppJson(OrganizationList {
        organizations: items,
        pagination: page.info(total),
    }))
}
