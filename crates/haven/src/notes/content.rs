//! A note's content at rest: every section of a version in one AES-256-GCM blob whose
//! associated data binds it to the organization, the note and the version; addenda and
//! statements (attestations, return comments) likewise; and the HMAC input of a signature,
//! which covers the exact version signed (its header and its decrypted sections).

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::format::Sections;
use crate::db::TenantTx;
use crate::ids::{NoteId, OrganizationId, SignatureId};
use crate::phi::{DataKey, FieldRef, Keyring, PhiError, SigningKey};

fn version_field(org: OrganizationId, note: NoteId) -> FieldRef {
    FieldRef {
        organization_id: org,
        table: "note_versions",
        column: "sections",
        row: note.as_uuid(),
    }
}

fn version_bound(version: i32) -> String {
    format!("v{version}")
}

/// The canonical text of `sections` (sorted keys, compact JSON): what is encrypted and what a
/// signature covers.
#[must_use]
pub fn canonical(sections: &Sections) -> Zeroizing<String> {
    Zeroizing::new(serde_json::to_string(sections).expect("a map of strings serializes"))
}

/// Encrypts `sections` as version `version` of note `note`.
#[must_use]
pub fn seal_sections(key: &DataKey, note: NoteId, version: i32, sections: &Sections) -> Vec<u8> {
    key.encrypt_bound(
        &version_field(key.organization_id(), note),
        &version_bound(version),
        &canonical(sections),
    )
}

/// Decrypts the sections of version `version` of note `note`.
pub async fn open_sections(
    keys: &Keyring,
    tx: &mut TenantTx,
    note: NoteId,
    version: i32,
    blob: &[u8],
) -> Result<Sections, PhiError> {
    let field = version_field(tx.organization_id(), note);
    let text = keys
        .decrypt_bound(tx, &field, &version_bound(version), blob)
        .await?;
    serde_json::from_str(&text).map_err(|_| PhiError::Decrypt)
}

/// An addendum's content.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddendumText {
    /// Why it was added.
    pub reason: String,
    /// What it says.
    pub text: String,
}

fn addendum_field(org: OrganizationId, note: NoteId) -> FieldRef {
    FieldRef {
        organization_id: org,
        table: "note_addenda",
        column: "content",
        row: note.as_uuid(),
    }
}

/// The canonical text of an addendum.
#[must_use]
pub fn canonical_addendum(addendum: &AddendumText) -> Zeroizing<String> {
    Zeroizing::new(serde_json::to_string(addendum).expect("strings serialize"))
}

/// Encrypts addendum number `number` of note `note`.
#[must_use]
pub fn seal_addendum(key: &DataKey, note: NoteId, number: i32, addendum: &AddendumText) -> Vec<u8> {
    key.encrypt_bound(
        &addendum_field(key.organization_id(), note),
        &format!("a{number}"),
        &canonical_addendum(addendum),
    )
}

/// Decrypts addendum number `number` of note `note`.
pub async fn open_addendum(
    keys: &Keyring,
    tx: &mut TenantTx,
    note: NoteId,
    number: i32,
    blob: &[u8],
) -> Result<AddendumText, PhiError> {
    let field = addendum_field(tx.organization_id(), note);
    let text = keys
        .decrypt_bound(tx, &field, &format!("a{number}"), blob)
        .await?;
    serde_json::from_str(&text).map_err(|_| PhiError::Decrypt)
}

fn statement_field(org: OrganizationId, signature: SignatureId) -> FieldRef {
    FieldRef {
        organization_id: org,
        table: "note_signatures",
        column: "statement",
        row: signature.as_uuid(),
    }
}

/// Encrypts the attestation or comment of signature `signature` of note `note`.
#[must_use]
pub fn seal_statement(key: &DataKey, signature: SignatureId, note: NoteId, text: &str) -> Vec<u8> {
    key.encrypt_bound(
        &statement_field(key.organization_id(), signature),
        &note.to_string(),
        text,
    )
}

/// Decrypts the statement of signature `signature` of note `note`.
pub async fn open_statement(
    keys: &Keyring,
    tx: &mut TenantTx,
    signature: SignatureId,
    note: NoteId,
    blob: &[u8],
) -> Result<Zeroizing<String>, PhiError> {
    let field = statement_field(tx.organization_id(), signature);
    keys.decrypt_bound(tx, &field, &note.to_string(), blob)
        .await
}

fn reason_field(org: OrganizationId, note: NoteId) -> FieldRef {
    FieldRef {
        organization_id: org,
        table: "notes",
        column: "entered_in_error_reason",
        row: note.as_uuid(),
    }
}

/// Encrypts the reason a note was entered in error.
#[must_use]
pub fn seal_reason(key: &DataKey, note: NoteId, reason: &str) -> Vec<u8> {
    key.encrypt(&reason_field(key.organization_id(), note), reason)
}

/// Decrypts the reason a note was entered in error.
pub async fn open_reason(
    keys: &Keyring,
    tx: &mut TenantTx,
    note: NoteId,
    blob: &[u8],
) -> Result<Zeroizing<String>, PhiError> {
    let field = reason_field(tx.organization_id(), note);
    keys.decrypt(tx, &field, blob).await
}

/// What a signature of a note version covers: the note, the version, what the note is (type,
/// format, patient, author, codes), the exact sections, and who signs in which capacity.
#[derive(Debug)]
pub struct Signed<'a> {
    /// The note.
    pub note: NoteId,
    /// The version signed.
    pub version: i32,
    /// `note_type`.
    pub note_type: &'a str,
    /// `format`.
    pub format: &'a str,
    /// The patient.
    pub patient: Uuid,
    /// The author.
    pub author: Uuid,
    /// The version's diagnosis codes.
    pub diagnosis_codes: &'a [String],
    /// The version's sections.
    pub sections: &'a Sections,
    /// SIGN, COSIGN or RETURN.
    pub kind: &'a str,
    /// Who signs.
    pub signer: Uuid,
}

impl Signed<'_> {
    fn parts<R>(&self, with: impl FnOnce(&[&[u8]]) -> R) -> R {
        let note = self.note.to_string();
        let version = self.version.to_string();
        let patient = self.patient.to_string();
        let author = self.author.to_string();
        let codes = self.diagnosis_codes.join(",");
        let sections = canonical(self.sections);
        let signer = self.signer.to_string();
        with(&[
            b"note-signature:v1",
            note.as_bytes(),
            version.as_bytes(),
            self.note_type.as_bytes(),
            self.format.as_bytes(),
            patient.as_bytes(),
            author.as_bytes(),
            codes.as_bytes(),
            sections.as_bytes(),
            self.kind.as_bytes(),
            signer.as_bytes(),
        ])
    }

    /// The HMAC under `key`.
    #[must_use]
    pub fn sign(&self, key: &SigningKey) -> [u8; 32] {
        self.parts(|parts| key.sign(parts))
    }

    /// Whether `tag` is this content's HMAC under `key`.
    #[must_use]
    pub fn verify(&self, key: &SigningKey, tag: &[u8]) -> bool {
        self.parts(|parts| key.verify(parts, tag))
    }
}

/// What an addendum's signature covers.
#[derive(Debug)]
pub struct SignedAddendum<'a> {
    /// The note.
    pub note: NoteId,
    /// Its number.
    pub number: i32,
    /// ADDENDUM, CORRECTION or LATE_ENTRY.
    pub kind: &'a str,
    /// Reason and text.
    pub content: &'a AddendumText,
    /// Its author (the signer).
    pub author: Uuid,
}

impl SignedAddendum<'_> {
    fn parts<R>(&self, with: impl FnOnce(&[&[u8]]) -> R) -> R {
        let note = self.note.to_string();
        let number = self.number.to_string();
        let content = canonical_addendum(self.content);
        let author = self.author.to_string();
        with(&[
            b"note-addendum:v1",
            note.as_bytes(),
            number.as_bytes(),
            self.kind.as_bytes(),
            content.as_bytes(),
            author.as_bytes(),
        ])
    }

    /// The HMAC under `key`.
    #[must_use]
    pub fn sign(&self, key: &SigningKey) -> [u8; 32] {
        self.parts(|parts| key.sign(parts))
    }

    /// Whether `tag` is this addendum's HMAC under `key`.
    #[must_use]
    pub fn verify(&self, key: &SigningKey, tag: &[u8]) -> bool {
        self.parts(|parts| key.verify(parts, tag))
    }
}
