//! `PATCH /api/organization/settings` (ADMIN).

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::SettingsResponse;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::auth::dpop::Mode;
use crate::domain::parse_time_zone_name;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::policy::method_of;
use crate::policy::organizations as policy;
use crate::security::BusinessHours;
use crate::store::organizations::{self, SettingsChange};

/// The request body: the settings to change, at least one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(min_properties = 1)]
pub struct UpdateSettings {
    /// An IANA time zone name PostgreSQL knows (`America/New_York`); abbreviations such as
    /// `EST` are refused.
    #[schema(min_length = 1, max_length = 64, example = "America/New_York")]
    time_zone: Option<String>,
    /// `disabled`, `optional` or `required` (DPoP for API clients, SPEC §5).
    dpop_mode: Option<Mode>,
    /// `off` or `sequential` (a freed slot is offered to the next ranked waitlist entry).
    #[schema(example = "sequential")]
    waitlist_auto_offer: Option<String>,
    /// Hours after the service a clinical note is due (1–720), for notes written from now on.
    #[schema(minimum = 1, maximum = 720, example = 72)]
    note_due_hours: Option<i32>,
    /// Business hours in the practice's time zone (`start`/`end` `HH:MM`, `end` may be
    /// `24:00`; `days` ISO 1–7).
    business_hours: Option<BusinessHours>,
}

/// Change the practice's settings
///
/// ADMIN (and a platform operator acting in a practice). Audited as `SETTINGS_UPDATE` naming
/// the fields changed and their new values (no PHI). `dpopMode: "required"` refuses bearer
/// logins and refreshes from then on; sessions already open keep their access tokens until
/// those expire (15 minutes by default) and cannot be refreshed without a proof.
#[utoipa::path(
    patch,
    path = "/",
    tag = "settings",
    request_body = UpdateSettings,
    responses(
        (status = 200, description = "The settings after the change", body = SettingsResponse),
        (status = 400, description = "An unknown time zone, DPoP mode or auto-offer mode, or nothing to change (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
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
    if body.time_zone.is_none()
        && body.dpop_mode.is_none()
        && body.waitlist_auto_offer.is_none()
        && body.note_due_hours.is_none()
        && body.business_hours.is_none()
    {
        return Err(AppError::invalid_field(
            "body",
            "at least one setting must be given",
        ));
    }
    let zone = body
        .time_zone
        .as_deref()
        .map(parse_time_zone_name)
        .transpose()
        .map_err(|e| AppError::invalid_field("timeZone", e))?;
    if body.note_due_hours.is_some_and(|h| !(1..=720).contains(&h)) {
        return Err(AppError::invalid_field("noteDueHours", "must be 1 to 720"));
    }
    if let Some(hours) = &body.business_hours {
        hours
            .check()
            .map_err(|(field, reason)| AppError::invalid_field(field, reason))?;
    }
    let auto_offer = body
        .waitlist_auto_offer
        .as_deref()
        .map(|raw| match raw.trim() {
            "off" => Ok("off"),
            "sequential" => Ok("sequential"),
            _ => Err(AppError::invalid_field(
                "waitlistAutoOffer",
                "must be off or sequential",
            )),
        })
        .transpose()?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    if let Some(zone) = &zone
        && !organizations::is_known_time_zone(&mut tx, zone).await?
    {
        return Err(AppError::invalid_field(
            "timeZone",
            "is not a time zone this server knows (IANA name like America/New_York)",
        ));
    }
    let change = SettingsChange {
        time_zone: zone,
        dpop_mode: body.dpop_mode,
        waitlist_auto_offer: auto_offer,
        note_due_hours: body.note_due_hours,
        business_hours: body.business_hours,
    };
    let row = organizations::update_settings(&mut tx, &may, &change).await?;
    let mut changed = serde_json::Map::new();
    if change.time_zone.is_some() {
        changed.insert("timeZone".into(), json!(row.time_zone));
    }
    if change.dpop_mode.is_some() {
        changed.insert("dpopMode".into(), json!(row.dpop_mode));
    }
    if change.waitlist_auto_offer.is_some() {
        changed.insert("waitlistAutoOffer".into(), json!(row.waitlist_auto_offer));
    }
    if change.note_due_hours.is_some() {
        changed.insert("noteDueHours".into(), json!(row.note_due_hours));
    }
    if change.business_hours.is_some() {
        changed.insert(
            "businessHours".into(),
            json!({
                "start": row.business_hours_start,
                "end": row.business_hours_end,
                "days": row.business_days,
            }),
        );
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
