//! `POST /api/notes/{id}/sign`: the author signs, and the note locks for good.

use axum::extract::State;
use chrono::{Duration, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{NoteHeaderResponse, NoteHeaderView};
use super::lookup::open_visible;
use super::reauth::{self, Subject};
use super::view::{current_sections, signed};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, RequestMeta};
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::{NoteId, SignatureId};
use crate::notes::format::{Format, Sections, missing_sections};
use crate::notes::{NoteError, content};
use crate::policy::notes::{NoteAuthor, VisibleNote};
use crate::store::notes::{self, NewSignature, NoteRow};
use crate::store::supervision;

/// The longest attestation.
pub(super) const MAX_STATEMENT: usize = 2000;

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignNote {
    /// The author's password (the signature)...
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
    /// ...or, with MFA enrolled, a current authenticator (or backup) code.
    #[schema(example = "123456")]
    mfa_code: Option<String>,
    /// A statement signed with the note (at most 2,000 characters; encrypted).
    attestation: Option<String>,
    /// Sign only if the note is still at this version (else 409 `CONFLICT`): sign what you read.
    #[schema(minimum = 1)]
    expected_version: Option<i32>,
}

/// The checks of a DRAFT about to be signed by its author: the version, then every section.
async fn ready(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    note: &VisibleNote<NoteRow>,
    expected: Option<i32>,
) -> Result<(NoteAuthor, Sections), AppError> {
    let author = note.authored(caller, "sign_note")?;
    let row = note.row();
    if row.status != "DRAFT" {
        return Err(NoteError::InvalidState {
            status: if row.status == "SIGNED" {
                "SIGNED"
            } else {
                "not a draft"
            },
            action: "sign",
        }
        .into());
    }
    if expected.is_some_and(|v| v != row.version) {
        return Err(NoteError::StaleVersion.into());
    }
    let format = Format::parse(&row.format)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a note has an unknown format")))?;
    let sections = current_sections(state, tx, row).await?;
    let missing = missing_sections(format, &sections);
    if !missing.is_empty() {
        return Err(NoteError::Incomplete(missing).into());
    }
    Ok((author, sections))
}

/// Sign a note
///
/// The author re-authenticates (`password`, or `mfaCode` when MFA is enrolled): a wrong one
/// answers 401 `INVALID_CREDENTIALS`, is audited `NOTE_SIGN_FAILED` and counts toward the
/// account lock. Every section of the format must be filled (else 422 `VALIDATION_ERROR`,
/// `details` naming the missing ones). The signature stores an HMAC, under the practice's
/// signing key, of the exact version signed. The note becomes `SIGNED`, or `PENDING_COSIGN`
/// when the author's supervision requires a co-signature; from then on its content can never
/// change (the database refuses it). Signing anything but a draft: 409 `INVALID_STATE`.
/// Audited `NOTE_SIGN`.
#[utoipa::path(
    post,
    path = "/{id}/sign",
    tag = "notes",
    params(("id" = Uuid, Path, description = "The note's id")),
    request_body = SignNote,
    responses(
        (status = 200, description = "Signed (or pending co-signature)", body = NoteHeaderResponse),
        (status = 400, description = "Neither or both of password and mfaCode; an attestation too long (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 401, description = "Wrong password or code (`INVALID_CREDENTIALS`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "Not the author (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Not a draft (`INVALID_STATE`), or not at `expectedVersion` (`CONFLICT`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 422, description = "Required sections missing (`VALIDATION_ERROR`, `details` names them)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn sign_note(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<NoteId>,
    AppJson(body): AppJson<SignNote>,
) -> Result<AppJson<NoteHeaderResponse>, AppError> {
    if body
        .attestation
        .as_ref()
        .is_some_and(|a| a.trim().is_empty() || a.chars().count() > MAX_STATEMENT)
    {
        return Err(AppError::invalid_field(
            "attestation",
            format!("must be 1 to {MAX_STATEMENT} characters"),
        ));
    }
    let proof = reauth::proof(body.password, body.mfa_code)?;
    // Refuse what can be refused before the password is checked (no attempt spent on it).
    let (mut tx, note) = open_visible(&state, &caller, &meta, id, "sign_note", false).await?;
    ready(&state, &mut tx, &caller, &note, body.expected_version).await?;
    tx.rollback().await?;
    let subject = Subject {
        note: id,
        patient: note.patient_id(),
        operation: "sign_note",
    };
    let method = reauth::reauthenticate(&state, &caller, &meta, subject, proof).await?;
    let (mut tx, note) = open_visible(&state, &caller, &meta, id, "sign_note", true).await?;
    let (author, sections) = ready(&state, &mut tx, &caller, &note, body.expected_version).await?;
    let row = sign(
        &state,
        &mut tx,
        &caller,
        &meta,
        (&note, &author, &sections),
        method.as_str(),
        body.attestation.as_deref(),
    )
    .await?;
    let header = NoteHeaderView::new(&row);
    tx.commit().await?;
    Ok(AppJson(NoteHeaderResponse { note: header }))
}

async fn sign(
    state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    (note, author, sections): (&VisibleNote<NoteRow>, &NoteAuthor, &Sections),
    method: &str,
    attestation: Option<&str>,
) -> Result<NoteRow, AppError> {
    let row = note.row();
    let keys = state.keyring();
    let signing = keys.signing_key(tx).await.map_err(NoteError::from)?;
    let hmac = signed(
        row,
        row.version,
        &row.diagnosis_codes,
        sections,
        "SIGN",
        caller.user_id,
    )
    .sign(&signing);
    let signature = SignatureId::new();
    let statement = match attestation {
        Some(text) => {
            let key = keys.data_key(tx).await.map_err(NoteError::from)?;
            Some(content::seal_statement(&key, signature, row.id, text))
        }
        None => None,
    };
    let supervision = supervision::current(tx, caller.user_id).await?;
    let (status, cosign_due_at) = match &supervision {
        Some(s) if s.requires_cosign => (
            "PENDING_COSIGN",
            Some(Utc::now() + Duration::days(i64::from(s.cosign_due_days))),
        ),
        _ => ("SIGNED", None),
    };
    let updated = notes::sign(
        tx,
        author,
        &NewSignature {
            id: signature,
            note: row.id,
            version: row.version,
            kind: "SIGN",
            signer: caller.user_id,
            method,
            key_id: signing.id(),
            hmac: &hmac,
            statement,
        },
        status,
        cosign_due_at,
    )
    .await
    .map_err(NoteError::from)?;
    audit::record(
        tx,
        &AuditEvent::new(AuditAction::NoteSign)
            .by(caller.actor())
            .with_access_method(note.access().method)
            .with_entity("note", row.id)
            .with_patient(row.patient_id)
            .with_details(json!({
                "version": row.version,
                "status": status,
                "method": method,
                "signatureId": signature,
                "supervisorId": supervision.as_ref().filter(|s| s.requires_cosign).map(|s| s.supervisor_id),
            }))
            .with_request(meta),
    )
    .await?;
    Ok(updated)
}
