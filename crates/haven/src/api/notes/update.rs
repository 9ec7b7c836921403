//! `PATCH /api/notes/{id}`: edit a draft.

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{NoteHeaderResponse, NoteHeaderView};
use super::lookup::open_visible;
use super::view::current_sections;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::NoteId;
use crate::notes::format::{Format, Sections, parse_icd10_list, section_problems};
use crate::notes::{NoteError, content};
use crate::store::notes;

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateNote {
    /// Sections to set (name → text, each at most 64 KiB; `""` empties one); sections not
    /// named keep their text.
    sections: Option<Sections>,
    /// The note's codes, replaced as a whole.
    diagnosis_codes: Option<Vec<String>>,
    /// The version the edit was made on; another answers 409 `CONFLICT`.
    #[schema(minimum = 1)]
    expected_version: i32,
}

/// Edit a draft note
///
/// The author only, while the note is a DRAFT (an overdue draft included): a signed note
/// answers 409 `NOTE_LOCKED` (correct it with an addendum). `expectedVersion` must be the
/// note's version (else 409 `CONFLICT`); the edit makes the next version. Audited
/// `NOTE_UPDATE` (section names, never text).
#[utoipa::path(
    patch,
    path = "/{id}",
    tag = "notes",
    params(("id" = Uuid, Path, description = "The note's id")),
    request_body = UpdateNote,
    responses(
        (status = 200, description = "The draft's header at its new version", body = NoteHeaderResponse),
        (status = 400, description = "A section not of the format or over 64 KiB, a malformed code, nothing to change (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not the author (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Signed (`NOTE_LOCKED`), or `expectedVersion` is stale (`CONFLICT`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn update_note(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<NoteId>,
    AppJson(body): AppJson<UpdateNote>,
) -> Result<AppJson<NoteHeaderResponse>, AppError> {
    if body.sections.is_none() && body.diagnosis_codes.is_none() {
        return Err(AppError::invalid_field(
            "sections",
            "give sections or diagnosisCodes to change",
        ));
    }
    let codes = body
        .diagnosis_codes
        .as_deref()
        .map(parse_icd10_list)
        .transpose()
        .map_err(|e| AppError::invalid_field("diagnosisCodes", e))?;
    let (mut tx, note) = open_visible(&state, &caller, &meta, id, "update_note", true).await?;
    let author = note.authored(&caller, "update_note")?;
    let row = note.row();
    if row.status != "DRAFT" {
        return Err(NoteError::Locked.into());
    }
    if row.version != body.expected_version {
        return Err(NoteError::StaleVersion.into());
    }
    let format = Format::parse(&row.format)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("note {id} has an unknown format")))?;
    let changed = body.sections.unwrap_or_default();
    let problems: Details = section_problems(format, &changed).into_iter().collect();
    if !problems.is_empty() {
        return Err(AppError::validation("The sections are not valid", problems));
    }
    let mut sections = current_sections(&state, &mut tx, row).await?;
    let names: Vec<&String> = changed.keys().collect();
    let names = json!(names);
    sections.extend(changed);
    let version = row.version + 1;
    let codes = codes.unwrap_or_else(|| row.diagnosis_codes.clone());
    let key = state
        .keyring()
        .data_key(&mut tx)
        .await
        .map_err(NoteError::from)?;
    let blob = content::seal_sections(&key, id, version, &sections);
    let updated = notes::update_draft(&mut tx, &author, id, version, &codes, &blob, caller.user_id)
        .await
        .map_err(NoteError::from)?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::NoteUpdate)
            .by(caller.actor())
            .with_access_method(note.access().method)
            .with_entity("note", id)
            .with_patient(updated.patient_id)
            .with_details(json!({
                "version": updated.version,
                "sections": names,
                "diagnosisCodesChanged": body.diagnosis_codes.is_some(),
            }))
            .with_request(&meta),
    )
    .await?;
    let header = NoteHeaderView::new(&updated);
    tx.commit().await?;
    Ok(AppJson(NoteHeaderResponse { note: header }))
}
