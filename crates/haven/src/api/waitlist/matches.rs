//! Matching without N+1: `GET /api/waitlist/{id}/matches` (free slots for one entry) and
//! `GET /api/waitlist/matches-for-slot` (ranked entries for a freed slot). One statement
//! each, whatever the number of entries, clinicians or days.

use std::collections::BTreeSet;

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::json;

use super::codec::{MatchingSlot, MatchingSlots, RankedEntries, WaitlistEntry};
use super::lookup::{find_entry, open_notes};
use crate::app::AppState;
use crate::audit::{self, AccessMethod, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::domain::parse_instant;
use crate::http::error::{AppError, Details, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::{AppPath, AppQuery};
use crate::ids::{PatientId, UserId, WaitlistEntryId};
use crate::policy::appointments::find_slots;
use crate::policy::patients::View;
use crate::policy::waitlist as policy;
use crate::store::waitlist::{self, EntrySearch, Slot};
use crate::units::parse_service_code;

/// The query of an entry's matches.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct EntryMatchParams {
    /// Window start (RFC 3339).
    #[param(example = "2027-03-15T00:00:00Z")]
    from: String,
    /// Window end (RFC 3339), after `from`, at most 31 days later.
    #[param(example = "2027-03-22T00:00:00Z")]
    to: String,
    /// The slot's length, 15–480 minutes (default 60).
    #[param(minimum = 15, maximum = 480)]
    duration_minutes: Option<i64>,
    /// Slots start on multiples of this many minutes, 5–240 (default 15).
    #[param(minimum = 5, maximum = 240)]
    granularity_minutes: Option<i64>,
    /// At most this many slots, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

fn window(from: &str, to: &str, details: &mut Details) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let from = parse_instant(from)
        .map_err(|e| details.insert("from".into(), e))
        .ok();
    let to = parse_instant(to)
        .map_err(|e| details.insert("to".into(), e))
        .ok();
    match (from, to) {
        (Some(f), Some(t)) if t > f && t - f <= Duration::days(31) => Some((f, t)),
        (Some(_), Some(_)) => {
            details.insert(
                "to".into(),
                "must be after from, at most 31 days later".into(),
            );
            None
        }
        _ => None,
    }
}

fn ranged(
    field: &str,
    value: Option<i64>,
    default: i64,
    range: (i64, i64),
    details: &mut Details,
) -> i64 {
    let v = value.unwrap_or(default);
    if !(range.0..=range.1).contains(&v) {
        details.insert(field.into(), format!("must be {} to {}", range.0, range.1));
    }
    v
}

fn check_entry_search(params: &EntryMatchParams) -> Result<EntrySearch, AppError> {
    let mut details = Details::new();
    let span = window(&params.from, &params.to, &mut details);
    let duration = ranged(
        "durationMinutes",
        params.duration_minutes,
        60,
        (15, 480),
        &mut details,
    );
    let granularity = ranged(
        "granularityMinutes",
        params.granularity_minutes,
        15,
        (5, 240),
        &mut details,
    );
    let limit = ranged("limit", params.limit, 100, (1, 1000), &mut details);
    match span {
        Some((from, to)) if details.is_empty() => Ok(EntrySearch {
            from,
            to,
            duration_minutes: i32::try_from(duration).unwrap_or(60),
            granularity_minutes: i32::try_from(granularity).unwrap_or(15),
            limit,
        }),
        _ => Err(AppError::validation("The search is not valid", details)),
    }
}

/// Free slots for one entry
///
/// The free slots between `from` and `to` that meet the entry's preferences (its clinicians
/// and service, days, local windows and dates in the practice's time zone) when its patient
/// has no other appointment: the slot finder's one statement, filtered. An entry that no
/// longer waits: 409 `INVALID_STATE`. Audited `WAITLIST_LIST` for the entry's patient.
#[utoipa::path(
    get,
    path = "/{id}/matches",
    tag = "waitlist",
    params(("id" = Uuid, Path, description = "The entry's id"), EntryMatchParams),
    responses(
        (status = 200, description = "The matching slots", body = MatchingSlots),
        (status = 400, description = "A parameter is not valid (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such entry in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The entry no longer waits (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn match_slots_for_entry(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<WaitlistEntryId>,
    AppQuery(params): AppQuery<EntryMatchParams>,
) -> Result<AppJson<MatchingSlots>, AppError> {
    let may = policy::manage_entry(&caller, "match_slots_for_entry", id)?;
    let slots = find_slots(&caller, "match_slots_for_entry")?;
    let search = check_entry_search(&params)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let entry = find_entry(
        &state,
        &mut tx,
        &caller,
        &meta,
        &may.patient_use(),
        id,
        false,
    )
    .await?;
    if !entry.row().is_waiting(Utc::now()) {
        return Err(AppError::new(
            ErrorCode::InvalidState,
            "The waitlist entry no longer waits",
        ));
    }
    let (rows, truncated) =
        waitlist::slots_for_entry(&mut tx, &slots, entry.row(), &search).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::WaitlistList)
            .by(caller.actor())
            .with_access_method(entry.access().method)
            .with_entity("waitlist_entry", id)
            .with_patient(entry.patient_id())
            .with_details(json!({ "matches": rows.len() }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(MatchingSlots {
        slots: rows
            .into_iter()
            .map(|r| MatchingSlot {
                clinician_id: r.clinician_id,
                start: r.start_at,
                end: r.end_at,
            })
            .collect(),
        truncated,
    }))
}

/// The query of a freed slot.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SlotMatchParams {
    /// The slot's clinician.
    clinician_id: UserId,
    /// The slot's start (RFC 3339).
    #[param(example = "2027-03-15T13:00:00Z")]
    start: String,
    /// The slot's length, 15–480 minutes.
    #[param(minimum = 15, maximum = 480)]
    duration_minutes: i64,
    /// The slot's service.
    #[param(example = "97153")]
    service_code: String,
    /// At most this many entries, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

fn check_slot(params: &SlotMatchParams) -> Result<(Slot, i64), AppError> {
    let mut details = Details::new();
    let start = parse_instant(&params.start)
        .map_err(|e| details.insert("start".into(), e))
        .ok();
    let minutes = ranged(
        "durationMinutes",
        Some(params.duration_minutes),
        60,
        (15, 480),
        &mut details,
    );
    let code = parse_service_code(&params.service_code)
        .map_err(|e| details.insert("serviceCode".into(), e))
        .ok();
    let limit = ranged("limit", params.limit, 20, (1, 100), &mut details);
    match (start, code) {
        (Some(start), Some(service_code)) if details.is_empty() => Ok((
            Slot {
                clinician_id: params.clinician_id,
                start,
                end: start + Duration::minutes(minutes),
                service_code,
            },
            limit,
        )),
        _ => Err(AppError::validation("The slot is not valid", details)),
    }
}

/// Ranked entries for a freed slot
///
/// The entries that would take the slot, best first: URGENT, then longest waiting. Only
/// active, unexpired entries of the service whose preferences the slot meets (clinicians,
/// days, local windows and dates in the practice's time zone), without a pending offer,
/// whose patient is free then; a CLINICIAN sees their care-team patients' only. One statement
/// whatever the number of entries. Audited `WAITLIST_LIST` once per patient shown.
#[utoipa::path(
    get,
    path = "/matches-for-slot",
    tag = "waitlist",
    params(SlotMatchParams),
    responses(
        (status = 200, description = "The ranked entries", body = RankedEntries),
        (status = 400, description = "A parameter is not valid (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn match_entries_for_slot(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(params): AppQuery<SlotMatchParams>,
) -> Result<AppJson<RankedEntries>, AppError> {
    let may = policy::manage(&caller, "match_entries_for_slot")?;
    let (slot, limit) = check_slot(&params)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let rows = waitlist::rank_for_slot(&mut tx, &may, &slot, limit).await?;
    let patients: BTreeSet<PatientId> = rows.iter().map(|r| r.patient_id).collect();
    let events: Vec<AuditEvent> = patients
        .into_iter()
        .map(|patient| {
            AuditEvent::new(AuditAction::WaitlistList)
                .by(caller.actor())
                .with_access_method(may.method())
                .with_entity("patient", patient)
                .with_patient(patient)
                .with_details(json!({ "matchesForSlot": true }))
                .with_request(&meta)
        })
        .collect();
    audit::record_many(&mut tx, &events).await?;
    let view = if may.method() == AccessMethod::SuperAdminBypass {
        View::Masked
    } else {
        View::Full
    };
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        let notes = open_notes(&state, &mut tx, row, view).await?;
        entries.push(WaitlistEntry::new(row, notes)?);
    }
    tx.commit().await?;
    Ok(AppJson(RankedEntries {
        waitlist_entries: entries,
    }))
}
