//! Reading a note's content for the response: decrypting its current version, its signatures'
//! statements and its addenda, and checking every HMAC against what is stored now.

use super::codec::{AddendumView, NoteHeaderView, NoteView, SignatureView};
use crate::app::AppState;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::notes::NoteError;
use crate::notes::content::{self, Signed, SignedAddendum};
use crate::notes::format::Sections;
use crate::policy::notes::VisibleNote;
use crate::store::notes::{self, NoteRow};

/// The current version's sections (decrypted) and codes.
pub(super) async fn current_sections(
    state: &AppState,
    tx: &mut TenantTx,
    row: &NoteRow,
) -> Result<Sections, AppError> {
    sections_of(state, tx, row, row.version).await
}

/// Version `version`'s sections.
pub(super) async fn sections_of(
    state: &AppState,
    tx: &mut TenantTx,
    row: &NoteRow,
    version: i32,
) -> Result<Sections, AppError> {
    let stored = notes::version(tx, row.id, version)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("note {} lacks a version", row.id)))?;
    Ok(
        content::open_sections(state.keyring(), tx, row.id, version, &stored.sections)
            .await
            .map_err(NoteError::from)?,
    )
}

/// What note `row` signs for `kind` by `signer` with `sections` of `version`.
pub(super) fn signed<'a>(
    row: &'a NoteRow,
    version: i32,
    codes: &'a [String],
    sections: &'a Sections,
    kind: &'a str,
    signer: crate::ids::UserId,
) -> Signed<'a> {
    Signed {
        note: row.id,
        version,
        note_type: &row.note_type,
        format: &row.format,
        patient: row.patient_id.as_uuid(),
        author: row.author_id.as_uuid(),
        diagnosis_codes: codes,
        sections,
        kind,
        signer: signer.as_uuid(),
    }
}

/// The note as the caller may see it: with content when their access allows, else the header
/// and who signed when.
pub(super) async fn render(
    state: &AppState,
    tx: &mut TenantTx,
    note: &VisibleNote<NoteRow>,
) -> Result<NoteView, AppError> {
    let row = note.row();
    let stored = notes::signatures(tx, row.id).await?;
    if !note.access().content {
        let signatures = stored
            .into_iter()
            .map(|s| SignatureView {
                id: s.id,
                version: s.version,
                kind: s.kind,
                signer_id: s.signer_id,
                method: s.method,
                signed_at: s.signed_at,
                statement: None,
                valid: None,
            })
            .collect();
        return Ok(NoteView {
            header: NoteHeaderView::new(row),
            sections: None,
            signatures,
            addenda: None,
            entered_in_error_reason: None,
        });
    }
    let keys = state.keyring();
    let sections = current_sections(state, tx, row).await?;
    let mut signatures = Vec::with_capacity(stored.len());
    for s in stored {
        let version = notes::version(tx, row.id, s.version)
            .await?
            .ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("a signature names a missing version"))
            })?;
        let signed_sections = if s.version == row.version {
            sections.clone()
        } else {
            content::open_sections(keys, tx, row.id, s.version, &version.sections)
                .await
                .map_err(NoteError::from)?
        };
        let key = keys
            .signing_key_by_id(tx, s.key_id)
            .await
            .map_err(NoteError::from)?;
        let valid = signed(
            row,
            s.version,
            &version.diagnosis_codes,
            &signed_sections,
            &s.kind,
            s.signer_id,
        )
        .verify(&key, &s.hmac);
        let statement = match &s.statement {
            Some(blob) => Some(
                content::open_statement(keys, tx, s.id, row.id, blob)
                    .await
                    .map_err(NoteError::from)?
                    .to_string(),
            ),
            None => None,
        };
        signatures.push(SignatureView {
            id: s.id,
            version: s.version,
            kind: s.kind,
            signer_id: s.signer_id,
            method: s.method,
            signed_at: s.signed_at,
            statement,
            valid: Some(valid),
        });
    }
    let mut addenda = Vec::new();
    for a in notes::addenda(tx, row.id).await? {
        let text = content::open_addendum(keys, tx, row.id, a.number, &a.content)
            .await
            .map_err(NoteError::from)?;
        let key = keys
            .signing_key_by_id(tx, a.key_id)
            .await
            .map_err(NoteError::from)?;
        let valid = SignedAddendum {
            note: row.id,
            number: a.number,
            kind: &a.kind,
            content: &text,
            author: a.author_id.as_uuid(),
        }
        .verify(&key, &a.hmac);
        addenda.push(AddendumView {
            id: a.id,
            number: a.number,
            kind: a.kind,
            reason: text.reason,
            text: text.text,
            author_id: a.author_id,
            method: a.method,
            created_at: a.created_at,
            valid,
        });
    }
    let entered_in_error_reason = match &row.entered_in_error_reason {
        Some(blob) => Some(
            content::open_reason(keys, tx, row.id, blob)
                .await
                .map_err(NoteError::from)?
                .to_string(),
        ),
        None => None,
    };
    Ok(NoteView {
        header: NoteHeaderView::new(row),
        sections: Some(sections),
        signatures,
        addenda: Some(addenda),
        entered_in_error_reason,
    })
}
