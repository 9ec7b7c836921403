//! `POST /api/notes/{id}/entered-in-error`: mark a note as written in error, keeping it.

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{NoteHeaderResponse, NoteHeaderView};
use super::lookup::open_visible;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::NoteId;
use crate::notes::{NoteError, content};
use crate::store::notes;

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnterInError {
    /// Why (1–500 characters; encrypted, it may name the patient).
    reason: String,
}

/// Mark a note entered in error
///
/// ADMIN. The note is kept, with its signatures and addenda, and becomes `ENTERED_IN_ERROR`
/// for good (nothing changes it afterwards). Audited `NOTE_ENTERED_IN_ERROR`.
#[utoipa::path(
    post,
    path = "/{id}/entered-in-error",
    tag = "notes",
    params(("id" = Uuid, Path, description = "The note's id")),
    request_body = EnterInError,
    responses(
        (status = 200, description = "Marked", body = NoteHeaderResponse),
        (status = 400, description = "No reason (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not an ADMIN (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Already entered in error (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn enter_note_in_error(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<NoteId>,
    AppJson(body): AppJson<EnterInError>,
) -> Result<AppJson<NoteHeaderResponse>, AppError> {
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::invalid_field(
            "reason",
            "must be 1 to 500 characters",
        ));
    }
    let (mut tx, note) =
        open_visible(&state, &caller, &meta, id, "enter_note_in_error", true).await?;
    let may = note.administered(&caller, "enter_note_in_error")?;
    if note.row().status == "ENTERED_IN_ERROR" {
        return Err(NoteError::InvalidState {
            status: "ENTERED_IN_ERROR",
            action: "mark",
        }
        .into());
    }
    let key = state
        .keyring()
        .data_key(&mut tx)
        .await
        .map_err(NoteError::from)?;
    let blob = content::seal_reason(&key, id, reason);
    let updated = notes::enter_in_error(&mut tx, &may, id, caller.user_id, &blob)
        .await
        .map_err(NoteError::from)?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::NoteEnteredInError)
            .by(caller.actor())
            .with_access_method(note.access().method)
            .with_entity("note", id)
            .with_patient(updated.patient_id)
            .with_details(
                json!({ "previousStatus": note.row().status, "version": updated.version }),
            )
            .with_request(&meta),
    )
    .await?;
    let header = NoteHeaderView::new(&updated);
    tx.commit().await?;
    Ok(AppJson(NoteHeaderResponse { note: header }))
}
