//! `/api/organization/settings`: the practice's settings (SPEC §6 "Practice settings"). Each feature
//! adds its fields: `timeZone` (scheduling), `dpopMode` (DPoP), `waitlistAutoOffer`
//! (waitlist), `noteDueHours` (clinical notes),
//! `businessHours` (breach detection).

mod get;
mod update;

use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::dpop::Mode;
use crate::security::BusinessHours;
use crate::store::organizations::SettingsRow;

/// The practice's settings.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// The practice's IANA time zone: the default zone of its clinicians' weekly availability.
    #[schema(example = "America/New_York")]
    time_zone: String,
    /// DPoP (RFC 9449) for API clients: `disabled` (proofs ignored, bearer tokens),
    /// `optional` (the default: a client that proves a key gets a bound token), `required`
    /// (bearer logins and refreshes refused; cookie sessions unchanged).
    dpop_mode: Mode,
    /// `off` (default) or `sequential`: a cancelled appointment, or a declined or expired
    /// waitlist offer, offers the slot to the next ranked waitlist entry automatically.
    #[schema(example = "sequential")]
    waitlist_auto_offer: String,
    /// Hours after the service (its session's or appointment's start) a clinical note is due;
    /// default 72.
    #[schema(example = 72)]
    note_due_hours: i32,
    /// Business hours in the practice's time zone, for breach detection's AFTER_HOURS_ACCESS
    /// (default 06:00–22:00, Monday to Friday).
    business_hours: BusinessHours,
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
                dpop_mode: Mode::from_stored(&row.dpop_mode),
                waitlist_auto_offer: row.waitlist_auto_offer,
                note_due_hours: row.note_due_hours,
                business_hours: BusinessHours {
                    start: row.business_hours_start,
                    end: row.business_hours_end,
                    days: row.business_days,
                },
            },
        }
    }
}

/// The routes, relative to `/api/organization/settings`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get::get_settings, update::update_settings))
}
