//! `POST /api/notes/{id}/addenda`: correct or complete a signed note.

use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{AddendumResponse, AddendumView};
use super::lookup::open_visible;
use super::reauth::{self, Subject};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::NoteId;
use crate::notes::NoteError;
use crate::notes::content::{self, AddendumText, SignedAddendum};
use crate::notes::format::{AddendumKind, MAX_SECTION_BYTES};
use crate::policy::notes::{NoteAmend, VisibleNote};
use crate::store::notes::{self, NewAddendum, NoteRow};

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateAddendum {
    /// ADDENDUM, CORRECTION or LATE_ENTRY.
    #[schema(example = "CORRECTION")]
    kind: String,
    /// Why (1–500 characters).
    reason: String,
    /// What it says (1 character to 64 KiB).
    text: String,
    /// The writer's password...
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
    /// ...or, with MFA enrolled, a current code.
    mfa_code: Option<String>,
}

fn check(body: &CreateAddendum) -> Result<AddendumKind, AppError> {
    let mut details = Details::new();
    let kind = AddendumKind::parse(&body.kind);
    if kind.is_none() {
        details.insert(
            "kind".into(),
            "must be ADDENDUM, CORRECTION or LATE_ENTRY".into(),
        );
    }
    if body.reason.trim().is_empty() || body.reason.chars().count() > 500 {
        details.insert("reason".into(), "must be 1 to 500 characters".into());
    }
    if body.text.trim().is_empty() || body.text.len() > MAX_SECTION_BYTES {
        details.insert(
            "text".into(),
            format!("must be 1 to {MAX_SECTION_BYTES} bytes"),
        );
    }
    match kind {
        Some(kind) if details.is_empty() => Ok(kind),
        _ => Err(AppError::validation("The addendum is not valid", details)),
    }
}

fn signed_note(caller: &Caller, note: &VisibleNote<NoteRow>) -> Result<NoteAmend, AppError> {
    let may = note.amendable(caller, "add_addendum")?;
    if note.row().status != "SIGNED" {
        return Err(NoteError::InvalidState {
            status: if note.row().status == "DRAFT" {
                "a draft (edit it instead)"
            } else {
                "not signed"
            },
            action: "add an addendum to",
        }
        .into());
    }
    Ok(may)
}

/// Add an addendum
///
/// The only way to correct a signed note: an append-only, signed addendum (`ADDENDUM`,
/// `CORRECTION`, `LATE_ENTRY`), numbered per note under the note's row lock, encrypted, and
/// signed (HMAC) by its writer, who re-authenticates like signing. The author, the author's
/// supervisor, or a CLINICIAN who may read the note. Only `SIGNED` notes (else 409
/// `INVALID_STATE`). Audited `NOTE_ADDENDUM`.
#[utoipa::path(
    post,
    path = "/{id}/addenda",
    tag = "notes",
    params(("id" = Uuid, Path, description = "The note's id")),
    request_body = CreateAddendum,
    responses(
        (status = 201, description = "The addendum", body = AddendumResponse),
        (status = 400, description = "Unknown kind, empty or too long reason or text (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 401, description = "Wrong password or code (`INVALID_CREDENTIALS`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "The note is not signed (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn add_addendum(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<NoteId>,
    AppJson(body): AppJson<CreateAddendum>,
) -> Result<(StatusCode, AppJson<AddendumResponse>), AppError> {
    let kind = check(&body)?;
    let proof = reauth::proof(body.password, body.mfa_code)?;
    let (tx, note) = open_visible(&state, &caller, &meta, id, "add_addendum", false).await?;
    signed_note(&caller, &note)?;
    tx.rollback().await?;
    let subject = Subject {
        note: id,
        patient: note.patient_id(),
        operation: "add_addendum",
    };
    let method = reauth::reauthenticate(&state, &caller, &meta, subject, proof).await?;
    let (mut tx, note) = open_visible(&state, &caller, &meta, id, "add_addendum", true).await?;
    let may = signed_note(&caller, &note)?;
    let keys = state.keyring();
    let number = notes::next_addendum_number(&mut tx, id).await?;
    let text = AddendumText {
        reason: body.reason,
        text: body.text,
    };
    let signing = keys.signing_key(&mut tx).await.map_err(NoteError::from)?;
    let hmac = SignedAddendum {
        note: id,
        number,
        kind: kind.as_str(),
        content: &text,
        author: caller.user_id.as_uuid(),
    }
    .sign(&signing);
    let data = keys.data_key(&mut tx).await.map_err(NoteError::from)?;
    let row = notes::insert_addendum(
        &mut tx,
        &may,
        &NewAddendum {
            note: id,
            number,
            kind: kind.as_str(),
            content: content::seal_addendum(&data, id, number, &text),
            author: caller.user_id,
            method: method.as_str(),
            key_id: signing.id(),
            hmac: &hmac,
        },
    )
    .await
    .map_err(NoteError::from)?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::NoteAddendum)
            .by(caller.actor())
            .with_access_method(note.access().method)
            .with_entity("note", id)
            .with_patient(note.patient_id())
            .with_details(json!({
                "addendumId": row.id,
                "number": number,
                "kind": kind.as_str(),
                "method": method.as_str(),
            }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        AppJson(AddendumResponse {
            addendum: AddendumView {
                id: row.id,
                number,
                kind: row.kind,
                reason: text.reason,
                text: text.text,
                author_id: row.author_id,
                method: row.method,
                created_at: row.created_at,
                valid: true,
            },
        }),
    ))
}
