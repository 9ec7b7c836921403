//! `POST /api/notes/{id}/cosign`: the author's supervisor approves or returns a note.

use axum::extract::State;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{NoteHeaderResponse, NoteHeaderView};
use super::lookup::open_visible;
use super::reauth::{self, Subject};
use super::sign::MAX_STATEMENT;
use super::view::{current_sections, signed};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::{NoteId, SignatureId};
use crate::notes::{NoteError, content};
use crate::policy::notes::{NoteSupervisor, VisibleNote};
use crate::store::notes::{self, NewSignature, NoteRow};

/// The supervisor's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    /// The note becomes SIGNED.
    Approve,
    /// The note goes back to DRAFT at the next version (the author's signature is kept).
    Return,
}

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CosignNote {
    /// APPROVE or RETURN.
    decision: Decision,
    /// A statement signed with the approval (at most 2,000 characters; encrypted).
    attestation: Option<String>,
    /// Why the note goes back (RETURN: required, 10–2,000 characters; encrypted).
    comment: Option<String>,
    /// The supervisor's password...
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
    /// ...or, with MFA enrolled, a current code.
    mfa_code: Option<String>,
}

fn statement(body: &CosignNote) -> Result<Option<String>, AppError> {
    match body.decision {
        Decision::Return => match body.comment.as_deref().map(str::trim) {
            Some(c) if (10..=MAX_STATEMENT).contains(&c.chars().count()) => Ok(Some(c.to_owned())),
            _ => Err(AppError::invalid_field(
                "comment",
                format!("a return needs a comment of 10 to {MAX_STATEMENT} characters"),
            )),
        },
        Decision::Approve => {
            if body.comment.is_some() {
                return Err(AppError::invalid_field(
                    "comment",
                    "only a RETURN takes a comment; approve with an attestation",
                ));
            }
            match body.attestation.as_deref() {
                Some(a) if a.trim().is_empty() || a.chars().count() > MAX_STATEMENT => {
                    Err(AppError::invalid_field(
                        "attestation",
                        format!("must be 1 to {MAX_STATEMENT} characters"),
                    ))
                }
                other => Ok(other.map(str::to_owned)),
            }
        }
    }
}

fn pending(caller: &Caller, note: &VisibleNote<NoteRow>) -> Result<NoteSupervisor, AppError> {
    let may = note.supervised(caller, "cosign_note")?;
    if note.row().status != "PENDING_COSIGN" {
        return Err(NoteError::InvalidState {
            status: if note.row().status == "SIGNED" {
                "SIGNED"
            } else {
                "not pending co-signature"
            },
            action: "co-sign",
        }
        .into());
    }
    Ok(may)
}

/// Co-sign or return a note
///
/// The note's author's currently assigned supervisor only (its author co-signing their own
/// note: 403), while it is `PENDING_COSIGN` (else 409 `INVALID_STATE`), re-authenticating like
/// signing. `APPROVE` makes it `SIGNED` with a co-signature (an HMAC of the version);
/// `RETURN` (a `comment` of at least 10 characters) sends it back to `DRAFT` at version + 1,
/// keeping the author's signature of the earlier version. Audited `NOTE_COSIGN` or
/// `NOTE_RETURN`.
#[utoipa::path(
    post,
    path = "/{id}/cosign",
    tag = "notes",
    params(("id" = Uuid, Path, description = "The note's id")),
    request_body = CosignNote,
    responses(
        (status = 200, description = "Co-signed, or returned", body = NoteHeaderResponse),
        (status = 400, description = "A return without a comment of 10+ characters (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 401, description = "Wrong password or code (`INVALID_CREDENTIALS`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not the author's supervisor, or the author (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Not pending co-signature (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn cosign_note(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<NoteId>,
    AppJson(body): AppJson<CosignNote>,
) -> Result<AppJson<NoteHeaderResponse>, AppError> {
    let text = statement(&body)?;
    let decision = body.decision;
    let proof = reauth::proof(body.password, body.mfa_code)?;
    let (tx, note) = open_visible(&state, &caller, &meta, id, "cosign_note", false).await?;
    pending(&caller, &note)?;
    tx.rollback().await?;
    let subject = Subject {
        note: id,
        patient: note.patient_id(),
        operation: "cosign_note",
    };
    let method = reauth::reauthenticate(&state, &caller, &meta, subject, proof).await?;
    let (mut tx, note) = open_visible(&state, &caller, &meta, id, "cosign_note", true).await?;
    let may = pending(&caller, &note)?;
    let updated = decide(
        &state,
        &mut tx,
        &caller,
        &note,
        &may,
        decision,
        method.as_str(),
        text,
    )
    .await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(match decision {
            Decision::Approve => AuditAction::NoteCosign,
            Decision::Return => AuditAction::NoteReturn,
        })
        .by(caller.actor())
        .with_access_method(note.access().method)
        .with_entity("note", id)
        .with_patient(updated.patient_id)
        .with_details(json!({
            "version": note.row().version,
            "status": updated.status,
            "authorId": updated.author_id,
            "method": method.as_str(),
        }))
        .with_request(&meta),
    )
    .await?;
    let header = NoteHeaderView::new(&updated);
    tx.commit().await?;
    Ok(AppJson(NoteHeaderResponse { note: header }))
}

#[expect(clippy::too_many_arguments, reason = "one step of one handler")]
async fn decide(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    note: &VisibleNote<NoteRow>,
    may: &NoteSupervisor,
    decision: Decision,
    method: &str,
    text: Option<String>,
) -> Result<NoteRow, AppError> {
    let row = note.row();
    let keys = state.keyring();
    let sections = current_sections(state, tx, row).await?;
    let kind = match decision {
        Decision::Approve => "COSIGN",
        Decision::Return => "RETURN",
    };
    let signing = keys.signing_key(tx).await.map_err(NoteError::from)?;
    let hmac = signed(
        row,
        row.version,
        &row.diagnosis_codes,
        &sections,
        kind,
        caller.user_id,
    )
    .sign(&signing);
    let data = keys.data_key(tx).await.map_err(NoteError::from)?;
    let id = SignatureId::new();
    let signature = NewSignature {
        id,
        note: row.id,
        version: row.version,
        kind,
        signer: caller.user_id,
        method,
        key_id: signing.id(),
        hmac: &hmac,
        statement: text.map(|t| content::seal_statement(&data, id, row.id, &t)),
    };
    Ok(match decision {
        Decision::Approve => notes::cosign(tx, may, &signature).await,
        Decision::Return => {
            let blob = content::seal_sections(&data, row.id, row.version + 1, &sections);
            notes::send_back(tx, may, &signature, &row.diagnosis_codes, &blob).await
        }
    }
    .map_err(NoteError::from)?)
}
