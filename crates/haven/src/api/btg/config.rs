//! `GET /api/admin/btg/config`.

use axum::extract::State;
use serde_json::{Value, json};

use super::OVERSEERS;
use crate::api::access::require_role;
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::btg::{ALLOWED_DURATIONS_MINUTES, DEFAULT_DURATION_MINUTES, MIN_JUSTIFICATION_LENGTH};
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;

/// `GET /api/admin/btg/config` (ADMIN, COMPLIANCE) →
/// `{allowedDurationsMinutes, defaultDurationMinutes, minJustificationLength}`.
pub async fn get_btg_config(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
) -> Result<AppJson<Value>, AppError> {
    require_role(&state, &caller, &meta, OVERSEERS, "get_btg_config").await?;
    Ok(AppJson(json!({
        "allowedDurationsMinutes": ALLOWED_DURATIONS_MINUTES,
        "defaultDurationMinutes": DEFAULT_DURATION_MINUTES,
        "minJustificationLength": MIN_JUSTIFICATION_LENGTH,
    })))
}
