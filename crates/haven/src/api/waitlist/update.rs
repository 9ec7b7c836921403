//! `PATCH /api/waitlist/{id}` and `DELETE /api/waitlist/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{Priority, WaitlistEntry, WaitlistEntryResponse, Window};
use super::lookup::{find_entry, open_notes, seal_notes};
use super::prefs;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::{AppError, Details, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::{AuthorizationId, UserId, WaitlistEntryId};
use crate::policy::waitlist as policy;
use crate::store::waitlist::{self, Preferences};
use crate::store::waitlist_offers;

/// The request body: the fields to change (absent: unchanged; an empty list clears a
/// preference).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(min_properties = 1)]
pub struct UpdateWaitlistEntry {
    /// Preferred clinicians (empty: any).
    clinician_ids: Option<Vec<UserId>>,
    /// An authorization of the patient for the entry's service.
    authorization_id: Option<AuthorizationId>,
    /// Preferred days (`MO` … `SU`; empty: any).
    preferred_days: Option<Vec<String>>,
    /// Preferred local windows (empty: any time).
    preferred_windows: Option<Vec<Window>>,
    /// Not before this date.
    earliest_date: Option<String>,
    /// Not after this date.
    latest_date: Option<String>,
    /// URGENT or ROUTINE.
    #[schema(value_type = Option<Priority>)]
    priority: Option<String>,
    /// Free text, 1–2,000 characters (encrypted).
    #[schema(max_length = 2000)]
    notes: Option<String>,
    /// `true`: another 90 days from now.
    renew: Option<bool>,
}

/// The entry's preferences with the body's changes, or the 400 naming each bad field.
fn merge(
    body: &UpdateWaitlistEntry,
    current: &waitlist::EntryRow,
) -> Result<(Preferences, Option<String>), AppError> {
    let mut details = Details::new();
    let clinician_ids = match &body.clinician_ids {
        Some(ids) => prefs::clinicians(ids, &mut details),
        None => current.clinician_ids.clone(),
    };
    let preferred_days = match &body.preferred_days {
        Some(days) => prefs::days(days, &mut details),
        None => current.preferred_days.clone(),
    };
    let windows = match &body.preferred_windows {
        Some(w) => prefs::windows(w, &mut details),
        None => current
            .window_starts
            .iter()
            .copied()
            .zip(current.window_ends.iter().copied())
            .collect(),
    };
    let earliest_date = match &body.earliest_date {
        Some(d) => prefs::date("earliestDate", Some(d), &mut details),
        None => current.earliest_date,
    };
    let latest_date = match &body.latest_date {
        Some(d) => prefs::date("latestDate", Some(d), &mut details),
        None => current.latest_date,
    };
    prefs::dates(earliest_date, latest_date, &mut details);
    let priority = match prefs::priority(body.priority.as_deref(), &mut details) {
        Some(p) => p.as_str().to_owned(),
        None => current.priority.clone(),
    };
    let notes = prefs::notes(body.notes.as_deref(), &mut details);
    if !details.is_empty() {
        return Err(AppError::validation(
            "The waitlist entry is not valid",
            details,
        ));
    }
    Ok((
        Preferences {
            clinician_ids,
            preferred_days,
            windows,
            earliest_date,
            latest_date,
            priority,
            authorization_id: body.authorization_id.or(current.authorization_id),
        },
        notes,
    ))
}

/// Change or renew a waitlist entry
///
/// Only an entry that still waits (ACTIVE, before `expiresAt`; otherwise 409 `INVALID_STATE`).
/// `renew: true` gives it another 90 days. ADMIN, SCHEDULER, and a CLINICIAN for patients on
/// their care team. Audited `WAITLIST_UPDATE` naming the fields changed (never their values).
#[utoipa::path(
    patch,
    path = "/{id}",
    tag = "waitlist",
    params(("id" = Uuid, Path, description = "The entry's id")),
    request_body = UpdateWaitlistEntry,
    responses(
        (status = 200, description = "The entry after the change", body = WaitlistEntryResponse),
        (status = 400, description = "A field is not valid (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such entry in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The entry no longer waits (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn update_waitlist_entry(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<WaitlistEntryId>,
    AppJson(body): AppJson<UpdateWaitlistEntry>,
) -> Result<AppJson<WaitlistEntryResponse>, AppError> {
    let may = policy::manage_entry(&caller, "update_waitlist_entry", id)?;
    let use_patients = may.patient_use();
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let entry = find_entry(&state, &mut tx, &caller, &meta, &use_patients, id, true).await?;
    let current = entry.row();
    if !current.is_waiting(Utc::now()) {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            "Only an active, unexpired waitlist entry can be changed",
        ));
    }
    let (preferences, notes) = merge(&body, current)?;
    prefs::check_clinicians(&mut tx, &preferences.clinician_ids).await?;
    if let Some(authorization) = body.authorization_id {
        prefs::check_authorization(
            &state,
            &mut tx,
            &caller,
            &use_patients,
            authorization,
            current.patient_id,
            &current.service_code,
        )
        .await?;
    }
    let sealed = match notes.as_deref() {
        Some(text) => seal_notes(&state, &mut tx, id, Some(text)).await?,
        None => current.notes.clone(),
    };
    let renew = body.renew.unwrap_or(false);
    let row = waitlist::update(&mut tx, &may, id, &preferences, sealed.as_deref(), renew).await?;
    let changed: Vec<&str> = [
        ("clinicianIds", body.clinician_ids.is_some()),
        ("authorizationId", body.authorization_id.is_some()),
        ("preferredDays", body.preferred_days.is_some()),
        ("preferredWindows", body.preferred_windows.is_some()),
        ("earliestDate", body.earliest_date.is_some()),
        ("latestDate", body.latest_date.is_some()),
        ("priority", body.priority.is_some()),
        ("notes", body.notes.is_some()),
        ("renew", renew),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::WaitlistUpdate)
            .by(caller.actor())
            .with_access_method(entry.access().method)
            .with_entity("waitlist_entry", id)
            .with_patient(row.patient_id)
            .with_details(json!({ "changed": changed, "expiresAt": row.expires_at }))
            .with_request(&meta),
    )
    .await?;
    let notes = open_notes(&state, &mut tx, &row, entry.access().view).await?;
    let shown = WaitlistEntry::new(&row, notes)?;
    tx.commit().await?;
    Ok(AppJson(WaitlistEntryResponse {
        waitlist_entry: shown,
    }))
}

/// Take an entry off the waitlist
///
/// ACTIVE → REMOVED (a BOOKED, REMOVED or EXPIRED entry: 409 `INVALID_STATE`; an entry with a
/// pending offer: decline the offer first, 409 `INVALID_STATE`). Audited `WAITLIST_REMOVE`.
#[utoipa::path(
    delete,
    path = "/{id}",
    tag = "waitlist",
    params(("id" = Uuid, Path, description = "The entry's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such entry in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Not ACTIVE, or an offer is pending (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn remove_waitlist_entry(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<WaitlistEntryId>,
) -> Result<StatusCode, AppError> {
    let may = policy::manage_entry(&caller, "remove_waitlist_entry", id)?;
    let use_patients = may.patient_use();
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let entry = find_entry(&state, &mut tx, &caller, &meta, &use_patients, id, true).await?;
    if entry.row().status != "ACTIVE" {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            format!(
                "Cannot remove a waitlist entry that is {}",
                entry.row().status
            ),
        ));
    }
    if waitlist_offers::pending_of_entry(&mut tx, id)
        .await?
        .is_some()
    {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            "The entry has a pending offer; decline it first",
        ));
    }
    let row = waitlist::set_status(&mut tx, &may, id, "REMOVED").await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::WaitlistRemove)
            .by(caller.actor())
            .with_access_method(entry.access().method)
            .with_entity("waitlist_entry", id)
            .with_patient(row.patient_id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
