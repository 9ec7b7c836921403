//! `/api/organization/settings`: the practice's settings (SPEC §6 "Practice settings"). This
//! issue starts it with `timeZone`; later features add their fields.

mod get;
mod update;

use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::store::organizations::SettingsRow;

/// The practice's settings.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// The practice's IANA time zone: the default zone of its clinicians' weekly availability.
    #[schema(example = "America/New_York")]
    time_zone: String,
    /// Hours after the session (or the note's creation) a clinical note is due, 1–720
    /// (default 72).
    #[schema(example = 72)]
    note_due_hours: i32,
}

/// `{"settings": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsResponse {
    /// The settings.
    settings: Settings,
}

impl From<SettingsRow> for SettingsResponse {
    fn from(row: SettingsRow) -> Self {
        Self {
            settings: Settings {
                time_zone: row.time_zone,
                note_due_hours: row.note_due_hours,
            },
        }
    }
}

/// The routes, relative to `/api/organization/settings`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get::get_settings, update::update_settings))
}
