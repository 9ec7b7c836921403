//! `DELETE /api/notes/{id}`: delete a draft.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use super::lookup::open_visible;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::NoteId;
use crate::notes::NoteError;
use crate::store::notes;

/// Delete a draft note
///
/// Its author or an ADMIN, while it is a DRAFT never signed (a note a supervisor returned
/// keeps its history). A signed note answers 409 `NOTE_LOCKED`: the database refuses deleting
/// anything but a draft, for every role. Audited `NOTE_DELETE`.
#[utoipa::path(
    delete,
    path = "/{id}",
    tag = "notes",
    params(("id" = Uuid, Path, description = "The note's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Neither its author nor an ADMIN (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such note for the caller (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Not a draft, or once signed (`NOTE_LOCKED`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn delete_note(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<NoteId>,
) -> Result<StatusCode, AppError> {
    let (mut tx, note) = open_visible(&state, &caller, &meta, id, "delete_note", true).await?;
    let may = note.deletable(&caller, "delete_note")?;
    if !notes::delete_draft(&mut tx, &may, id)
        .await
        .map_err(NoteError::from)?
    {
        return Err(NoteError::Locked.into());
    }
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::NoteDelete)
            .by(caller.actor())
            .with_access_method(note.access().method)
            .with_entity("note", id)
            .with_patient(note.patient_id())
            .with_details(json!({ "version": note.row().version }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
