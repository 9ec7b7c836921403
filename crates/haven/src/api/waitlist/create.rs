//! `POST /api/waitlist`: put a patient on the waitlist for one service.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{Priority, WaitlistEntry, WaitlistEntryResponse, Window};
use super::lookup::{open_notes, seal_notes};
use super::prefs;
use crate::api::patients::lookup::find_visible as find_patient;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::{AppError, Details, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::ids::{AuthorizationId, PatientId, UserId, WaitlistEntryId};
use crate::policy::waitlist as policy;
use crate::store::is_unique_violation;
use crate::store::waitlist::{self, NewEntry, ONE_ACTIVE, Preferences};
use crate::units::parse_service_code;

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddToWaitlist {
    /// The patient.
    patient_id: PatientId,
    /// The service: a CPT/HCPCS-like code (`97153`).
    #[schema(example = "97153")]
    service_code: String,
    /// Preferred clinicians (active clinicians of the practice, at most 20; none: any).
    clinician_ids: Option<Vec<UserId>>,
    /// An authorization of the patient for the service: an offer reserves its units.
    authorization_id: Option<AuthorizationId>,
    /// Preferred days (`MO` … `SU`; none: any).
    #[schema(example = json!(["MO", "WE"]))]
    preferred_days: Option<Vec<String>>,
    /// Preferred local time windows in the practice's time zone (at most 7; none: any time).
    preferred_windows: Option<Vec<Window>>,
    /// Not before this date (`YYYY-MM-DD`, local).
    #[schema(example = "2027-03-01")]
    earliest_date: Option<String>,
    /// Not after this date (`YYYY-MM-DD`, local).
    #[schema(example = "2027-06-30")]
    latest_date: Option<String>,
    /// URGENT or ROUTINE (default).
    #[schema(value_type = Option<Priority>)]
    priority: Option<String>,
    /// Free text, 1–2,000 characters, stored encrypted like the patient's own fields.
    #[schema(max_length = 2000)]
    notes: Option<String>,
}

/// The checked body.
struct Checked {
    service_code: String,
    preferences: Preferences,
    notes: Option<String>,
}

fn check(body: &AddToWaitlist) -> Result<Checked, AppError> {
    let mut details = Details::new();
    let code = parse_service_code(&body.service_code)
        .map_err(|e| details.insert("serviceCode".into(), e))
        .ok();
    let clinician_ids =
        prefs::clinicians(body.clinician_ids.as_deref().unwrap_or(&[]), &mut details);
    let preferred_days = prefs::days(body.preferred_days.as_deref().unwrap_or(&[]), &mut details);
    let windows = prefs::windows(
        body.preferred_windows.as_deref().unwrap_or(&[]),
        &mut details,
    );
    let earliest_date = prefs::date("earliestDate", body.earliest_date.as_deref(), &mut details);
    let latest_date = prefs::date("latestDate", body.latest_date.as_deref(), &mut details);
    prefs::dates(earliest_date, latest_date, &mut details);
    let priority = prefs::priority(body.priority.as_deref(), &mut details);
    let notes = prefs::notes(body.notes.as_deref(), &mut details);
    match code {
        Some(service_code) if details.is_empty() => Ok(Checked {
            service_code,
            preferences: Preferences {
                clinician_ids,
                preferred_days,
                windows,
                earliest_date,
                latest_date,
                priority: priority.unwrap_or(Priority::Routine).as_str().to_owned(),
                authorization_id: body.authorization_id,
            },
            notes,
        }),
        _ => Err(AppError::validation(
            "The waitlist entry is not valid",
            details,
        )),
    }
}

/// Add a patient to the waitlist
///
/// One active entry per patient and service (409 `CONFLICT`); it expires after 90 days unless
/// renewed (`PATCH` with `renew: true`). Days and windows are wall times in the practice's
/// time zone. ADMIN, SCHEDULER, and a CLINICIAN for patients on their care team. Audited
/// `WAITLIST_ADD`. Another practice's patient or authorization is 404 (audited).
#[utoipa::path(
    post,
    path = "/",
    tag = "waitlist",
    request_body = AddToWaitlist,
    responses(
        (status = 201, description = "On the waitlist", body = WaitlistEntryResponse),
        (status = 400, description = "A field is not valid (`VALIDATION_ERROR`, `details` names it)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such patient or authorization in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The patient already waits for this service (`CONFLICT`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn add_to_waitlist(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<AddToWaitlist>,
) -> Result<(StatusCode, AppJson<WaitlistEntryResponse>), AppError> {
    let may = policy::manage(&caller, "add_to_waitlist")?;
    let checked = check(&body)?;
    let use_patients = may.patient_use();
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let patient = find_patient(
        &state,
        &mut tx,
        &caller,
        &meta,
        &use_patients,
        body.patient_id,
    )
    .await?;
    prefs::check_clinicians(&mut tx, &checked.preferences.clinician_ids).await?;
    if let Some(authorization) = body.authorization_id {
        prefs::check_authorization(
            &state,
            &mut tx,
            &caller,
            &use_patients,
            authorization,
            body.patient_id,
            &checked.service_code,
        )
        .await?;
    }
    let id = WaitlistEntryId::new();
    let notes = seal_notes(&state, &mut tx, id, checked.notes.as_deref()).await?;
    let row = match waitlist::insert(
        &mut tx,
        &may,
        &NewEntry {
            id,
            patient_id: body.patient_id,
            service_code: checked.service_code,
            preferences: checked.preferences,
            notes,
            created_by: caller.user_id,
        },
    )
    .await
    {
        Ok(row) => row,
        Err(error) if is_unique_violation(&error, ONE_ACTIVE) => {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "The patient already has an active waitlist entry for this service",
            ));
        }
        Err(error) => return Err(error.into()),
    };
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::WaitlistAdd)
            .by(caller.actor())
            .with_access_method(patient.access().method)
            .with_entity("waitlist_entry", row.id)
            .with_patient(row.patient_id)
            .with_details(json!({
                "serviceCode": row.service_code,
                "priority": row.priority,
                "expiresAt": row.expires_at,
            }))
            .with_request(&meta),
    )
    .await?;
    let notes = open_notes(&state, &mut tx, &row, patient.access().view).await?;
    let entry = WaitlistEntry::new(&row, notes)?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        AppJson(WaitlistEntryResponse {
            waitlist_entry: entry,
        }),
    ))
}
