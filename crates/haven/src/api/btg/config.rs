//! `GET /api/admin/btg/config`.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::btg::{ALLOWED_DURATIONS_MINUTES, DEFAULT_DURATION_MINUTES, MIN_JUSTIFICATION_LENGTH};
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::policy::btg as policy;

/// The rules an emergency access grant must follow.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BtgConfig {
    /// The durations a grant may have, in minutes, shortest first.
    #[schema(example = json!([15, 30, 60, 120, 240, 480]))]
    allowed_durations_minutes: Vec<i32>,
    /// The duration of a grant that names none, in minutes.
    #[schema(example = 60)]
    default_duration_minutes: i32,
    /// The fewest characters a justification may have (once trimmed).
    #[schema(example = 50)]
    min_justification_length: usize,
}

/// The break-the-glass rules.
///
/// `GET /api/admin/btg/config` → `{allowedDurationsMinutes, defaultDurationMinutes,
/// minJustificationLength}`: what a grant request must satisfy. ADMIN and COMPLIANCE; other roles
/// (SUPER_ADMIN included) get 403.
#[utoipa::path(
    get,
    path = "/config",
    tag = "btg",
    responses((status = 200, description = "The allowed durations and the justification's minimum length", body = BtgConfig)),
)]
pub async fn get_btg_config(
    State(_state): State<AppState>,
    caller: Caller,
    Meta(_meta): Meta,
) -> Result<AppJson<BtgConfig>, AppError> {
    policy::oversee(&caller, "get_btg_config")?;
    Ok(AppJson(BtgConfig {
        allowed_durations_minutes: ALLOWED_DURATIONS_MINUTES.to_vec(),
        default_duration_minutes: DEFAULT_DURATION_MINUTES,
        min_justification_length: MIN_JUSTIFICATION_LENGTH,
    }))
}
