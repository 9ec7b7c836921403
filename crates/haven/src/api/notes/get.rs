//! `GET /api/notes/{id}`.

use axum::extract::State;
use serde_json::json;

use super::codec::NoteResponse;
use super::lookup::open_visible;
use super::view::render;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::NoteId;

/// Read a note
///
/// With its sections, signatures (each HMAC checked now: `valid`) and addenda for the author,
/// the author's supervisor, care-team clinicians (or under an emergency grant) and ADMIN;
/// BILLING and platform operators get the header and who signed when, no content. A
/// `PSYCHOTHERAPY` note exists only for its author and the author's supervisor: anyone else
/// gets 404. SCHEDULER and COMPLIANCE: 403. Audited `NOTE_READ`, committed before the response
/// leaves (fail-closed).
#[utoipa::path(
    get,
    path = "/{id}",
    tag = "notes",
    params(("id" = Uuid, Path, description = "The note's id")),
    responses(
        (status = 200, description = "The note, as much as the caller may see", body = NoteResponse),
        (status = 403, description = "SCHEDULER, COMPLIANCE (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such note for the caller (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn get_note(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<NoteId>,
) -> Result<AppJson<NoteResponse>, AppError> {
    let (mut tx, note) = open_visible(&state, &caller, &meta, id, "get_note", false).await?;
    let view = render(&state, &mut tx, &note).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::NoteRead)
            .by(caller.actor())
            .with_access_method(note.access().method)
            .with_entity("note", id)
            .with_patient(note.patient_id())
            .with_details(
                json!({ "content": note.access().content, "version": note.row().version }),
            )
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(NoteResponse { note: view }))
}
