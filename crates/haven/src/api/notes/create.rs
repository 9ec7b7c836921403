//! `POST /api/notes`: write a draft note.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{NoteHeaderResponse, NoteHeaderView};
use crate::api::patients::lookup::find_visible as find_patient;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::ids::{AppointmentId, NoteId, PatientId, TherapySessionId};
use crate::notes::content;
use crate::notes::format::{Format, NoteType, Sections, parse_icd10_list, section_problems};
use crate::policy::Denial;
use crate::policy::notes as policy;
use crate::policy::patients::PatientUse;
use crate::store::notes::{self, NewNote};
use crate::store::{appointments, sessions_units};

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateNote {
    /// The patient.
    patient_id: PatientId,
    /// The appointment documented (of the same patient).
    appointment_id: Option<AppointmentId>,
    /// The §5 session documented (of the same patient).
    session_id: Option<TherapySessionId>,
    /// PROGRESS, INTAKE, TREATMENT_PLAN, ABA_SESSION, CONTACT, DISCHARGE or PSYCHOTHERAPY.
    #[schema(example = "PROGRESS")]
    note_type: String,
    /// SOAP (subjective, objective, assessment, plan), DAP (data, assessment, plan), BIRP
    /// (behavior, intervention, response, plan), GIRP (goal, intervention, response, plan) or
    /// FREE (text).
    #[schema(example = "SOAP")]
    format: String,
    /// Section name → text (each at most 64 KiB); only the format's sections. A draft may leave
    /// sections out; signing needs them all.
    #[serde(default)]
    sections: Sections,
    /// ICD-10-CM codes (at most 12), like `F84.0`.
    #[serde(default)]
    diagnosis_codes: Vec<String>,
}

struct Checked {
    note_type: NoteType,
    format: Format,
    codes: Vec<String>,
}

fn check(body: &CreateNote) -> Result<Checked, AppError> {
    let mut details = Details::new();
    let note_type = NoteType::parse(&body.note_type);
    if note_type.is_none() {
        details.insert(
            "noteType".into(),
            "must be PROGRESS, INTAKE, TREATMENT_PLAN, ABA_SESSION, CONTACT, DISCHARGE or PSYCHOTHERAPY"
                .into(),
        );
    }
    let format = Format::parse(&body.format);
    match format {
        Some(format) => details.extend(section_problems(format, &body.sections)),
        None => {
            details.insert(
                "format".into(),
                "must be SOAP, DAP, BIRP, GIRP or FREE".into(),
            );
        }
    }
    let codes = parse_icd10_list(&body.diagnosis_codes)
        .map_err(|e| details.insert("diagnosisCodes".into(), e))
        .ok();
    match (note_type, format, codes) {
        (Some(note_type), Some(format), Some(codes)) if details.is_empty() => Ok(Checked {
            note_type,
            format,
            codes,
        }),
        _ => Err(AppError::validation("The note is not valid", details)),
    }
}

/// When the documented service happened: the session's or appointment's start (each of the
/// note's patient), else now.
async fn service_time(
    tx: &mut TenantTx,
    caller: &Caller,
    may: &PatientUse,
    body: &CreateNote,
) -> Result<DateTime<Utc>, AppError> {
    let mut at = None;
    if let Some(id) = body.session_id {
        match sessions_units::find(tx, may, id).await? {
            Some(s) if s.patient_id == body.patient_id => at = Some(s.start_time),
            Some(_) => {
                return Err(AppError::invalid_field(
                    "sessionId",
                    "must be a session of the same patient",
                ));
            }
            None => {
                let owner = sessions_units::organization_of(tx, id).await?;
                return Err(Denial::not_found(caller, "session", id, owner).into());
            }
        }
    }
    if let Some(id) = body.appointment_id {
        match appointments::find(tx, may, id, false).await? {
            Some(a) if a.patient_id == body.patient_id => {
                at = at.or(Some(a.start_at));
            }
            Some(_) => {
                return Err(AppError::invalid_field(
                    "appointmentId",
                    "must be an appointment of the same patient",
                ));
            }
            None => {
                let owner = appointments::organization_of(tx, id).await?;
                return Err(Denial::not_found(caller, "appointment", id, owner).into());
            }
        }
    }
    Ok(at.unwrap_or_else(Utc::now))
}

/// Write a note
///
/// A DRAFT at version 1, due the practice's `noteDueHours` (default 72) after the session or
/// appointment it documents (else after now). A CLINICIAN for patients on their care team (or
/// under an emergency grant), an ADMIN for any; the author is the caller. Audited
/// `NOTE_CREATE` (no content). Content is encrypted, bound to the note and version.
#[utoipa::path(
    post,
    path = "/",
    tag = "notes",
    request_body = CreateNote,
    responses(
        (status = 201, description = "The draft's header", body = NoteHeaderResponse),
        (status = 400, description = "Unknown type or format, a section not of the format or over 64 KiB, a malformed ICD-10-CM code (`VALIDATION_ERROR`, `details` names the field)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "SCHEDULER, COMPLIANCE, BILLING (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such patient, appointment or session for the caller (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn create_note(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<CreateNote>,
) -> Result<(StatusCode, AppJson<NoteHeaderResponse>), AppError> {
    let may = policy::use_notes(&caller, "create_note")?;
    let checked = check(&body)?;
    let patients = may.patient_use();
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let patient = find_patient(&state, &mut tx, &caller, &meta, &patients, body.patient_id).await?;
    let create = policy::create(&caller, "create_note", &patient)?;
    let service_at = service_time(&mut tx, &caller, &patients, &body).await?;
    let id = NoteId::new();
    let key = state
        .keyring()
        .data_key(&mut tx)
        .await
        .map_err(crate::notes::NoteError::from)?;
    let row = notes::insert(
        &mut tx,
        &create,
        &NewNote {
            id,
            patient_id: body.patient_id,
            author_id: caller.user_id,
            appointment_id: body.appointment_id,
            session_id: body.session_id,
            note_type: checked.note_type.as_str(),
            format: checked.format.as_str(),
            diagnosis_codes: &checked.codes,
            service_at,
            sections: content::seal_sections(&key, id, 1, &body.sections),
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::NoteCreate)
            .by(caller.actor())
            .with_access_method(create.method())
            .with_entity("note", id)
            .with_patient(row.patient_id)
            .with_details(json!({
                "noteType": row.note_type,
                "format": row.format,
                "version": row.version,
                "appointmentId": row.appointment_id,
                "sessionId": row.session_id,
                "dueAt": row.due_at,
            }))
            .with_request(&meta),
    )
    .await?;
    let note = NoteHeaderView::new(&row);
    tx.commit().await?;
    Ok((StatusCode::CREATED, AppJson(NoteHeaderResponse { note })))
}
