//! `PATCH /api/organization/settings` (ADMIN).

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::SettingsResponse;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::domain::parse_time_zone_name;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::policy::method_of;
use crate::policy::organizations as policy;
use crate::store::organizations;

/// The request body: the settings to change, at least one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(min_properties = 1)]
pub struct UpdateSettings {
    /// An IANA time zone name PostgreSQL knows (`America/New_York`); abbreviations such as
    /// `EST` are refused.
    #[schema(min_length = 1, max_length = 64, example = "America/New_York")]
    time_zone: Option<String>,
    /// Hours after the session a clinical note is due, 1–720; applies to notes written from
    /// now on.
    #[schema(minimum = 1, maximum = 720, example = 72)]
    note_due_hours: Option<i32>,
}

/// Change the practice's settings
///
/// ADMIN (and a platform operator acting in a practice). Audited as `SETTINGS_UPDATE` naming
/// the fields changed and their new values (no PHI).
#[utoipa::path(
    patch,
    path = "/",
    tag = "settings",
    request_body = UpdateSettings,
    responses(
        (status = 200, description = "The settings after the change", body = SettingsResponse),
        (status = 400, description = "An unknown time zone, or nothing to change (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not an admin (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn update_settings(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<UpdateSettings>,
) -> Result<AppJson<SettingsResponse>, AppError> {
    let may = policy::manage_settings(&caller, "update_settings")?;
    if body.time_zone.is_none() && body.note_due_hours.is_none() {
        return Err(AppError::invalid_field(
            "timeZone",
            "at least one setting must be given",
        ));
    }
    if body.note_due_hours.is_some_and(|h| !(1..=720).contains(&h)) {
        return Err(AppError::invalid_field("noteDueHours", "must be 1 to 720"));
    }
    let zone = body
        .time_zone
        .as_deref()
        .map(|raw| parse_time_zone_name(raw).map_err(|e| AppError::invalid_field("timeZone", e)))
        .transpose()?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let mut changed = serde_json::Map::new();
    let mut row = organizations::settings(&mut tx, &may).await?;
    if let Some(zone) = zone {
        if !organizations::is_known_time_zone(&mut tx, &zone).await? {
            return Err(AppError::invalid_field(
                "timeZone",
                "is not a time zone this server knows (IANA name like America/New_York)",
            ));
        }
        row = organizations::set_time_zone(&mut tx, &may, &zone).await?;
        changed.insert("timeZone".into(), json!(row.time_zone));
    }
    if let Some(hours) = body.note_due_hours {
        row = organizations::set_note_due_hours(&mut tx, &may, hours).await?;
        changed.insert("noteDueHours".into(), json!(row.note_due_hours));
    }
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::SettingsUpdate)
            .by(caller.actor())
            .with_access_method(method_of(&caller))
            .with_entity("organization", caller.organization_id)
            .with_details(json!({ "changed": changed }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(row.into()))
}
