//! `GET /api/organization/settings` (ADMIN).

use axum::extract::State;

use super::SettingsResponse;
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::policy::organizations as policy;
use crate::store::organizations;

/// Get the practice's settings
///
/// ADMIN (and a platform operator acting in a practice); other roles get 403 (audited).
#[utoipa::path(
    get,
    path = "/",
    tag = "settings",
    responses(
        (status = 200, description = "The settings", body = SettingsResponse),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn get_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<AppJson<SettingsResponse>, AppError> {
    let may = policy::manage_settings(&caller, "get_settings")?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let row = organizations::settings(&mut tx, &may).await?;
    tx.commit().await?;
    Ok(AppJson(row.into()))
}
