//! The wire types of clinical notes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::pagination::Pagination;
use crate::ids::{
    AddendumId, AppointmentId, NoteId, PatientId, SignatureId, TherapySessionId, UserId,
};
use crate::store::notes::NoteRow;

/// A note's header: what lists, BILLING and platform operators see (never content).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoteHeaderView {
    /// The note.
    id: NoteId,
    /// Whose.
    patient_id: PatientId,
    /// Who wrote it.
    author_id: UserId,
    /// The appointment it documents.
    appointment_id: Option<AppointmentId>,
    /// The §5 session it documents.
    session_id: Option<TherapySessionId>,
    /// PROGRESS, INTAKE, TREATMENT_PLAN, ABA_SESSION, CONTACT, DISCHARGE or PSYCHOTHERAPY.
    note_type: String,
    /// SOAP, DAP, BIRP, GIRP or FREE.
    format: String,
    /// DRAFT, PENDING_COSIGN, SIGNED or ENTERED_IN_ERROR.
    status: String,
    /// The current version (bumped by every edit and by a supervisor's return).
    version: i32,
    /// ICD-10-CM codes.
    diagnosis_codes: Vec<String>,
    /// When the service documented happened (the session's or appointment's start, else the
    /// note's creation).
    service_at: DateTime<Utc>,
    /// When the note is due (`noteDueHours` after the service).
    due_at: DateTime<Utc>,
    /// Whether the daily job found it still a draft past `dueAt` (it stays editable).
    overdue: bool,
    /// When the author signed.
    signed_at: Option<DateTime<Utc>>,
    /// The signer.
    signed_by: Option<UserId>,
    /// When the supervisor's co-signature is due.
    cosign_due_at: Option<DateTime<Utc>>,
    /// When the supervisor co-signed.
    cosigned_at: Option<DateTime<Utc>>,
    /// The co-signer.
    cosigned_by: Option<UserId>,
    /// When it was marked entered in error.
    entered_in_error_at: Option<DateTime<Utc>>,
    /// Created.
    created_at: DateTime<Utc>,
    /// Last changed.
    updated_at: DateTime<Utc>,
}

impl NoteHeaderView {
    /// The header of `row`.
    #[must_use]
    pub fn new(row: &NoteRow) -> Self {
        Self {
            id: row.id,
            patient_id: row.patient_id,
            author_id: row.author_id,
            appointment_id: row.appointment_id,
            session_id: row.session_id,
            note_type: row.note_type.clone(),
            format: row.format.clone(),
            status: row.status.clone(),
            version: row.version,
            diagnosis_codes: row.diagnosis_codes.clone(),
            service_at: row.service_at,
            due_at: row.due_at,
            overdue: row.overdue,
            signed_at: row.signed_at,
            signed_by: row.signed_by,
            cosign_due_at: row.cosign_due_at,
            cosigned_at: row.cosigned_at,
            cosigned_by: row.cosigned_by,
            entered_in_error_at: row.entered_in_error_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A signature of a note version.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignatureView {
    /// The signature.
    pub(super) id: SignatureId,
    /// The version signed.
    pub(super) version: i32,
    /// SIGN (the author), COSIGN (the supervisor approved) or RETURN (the supervisor sent it
    /// back).
    pub(super) kind: String,
    /// Who signed.
    pub(super) signer_id: UserId,
    /// How they re-authenticated: `password` or `mfa`.
    pub(super) method: String,
    /// When.
    pub(super) signed_at: DateTime<Utc>,
    /// The attestation (SIGN, COSIGN) or the return comment; absent without content access.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) statement: Option<String>,
    /// Whether the stored HMAC matches the version's content now (checked on every read);
    /// absent without content access.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) valid: Option<bool>,
}

/// An addendum.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddendumView {
    /// The addendum.
    pub(super) id: AddendumId,
    /// Its number within the note, from 1.
    pub(super) number: i32,
    /// ADDENDUM, CORRECTION or LATE_ENTRY.
    pub(super) kind: String,
    /// Why it was added.
    pub(super) reason: String,
    /// What it says.
    pub(super) text: String,
    /// Who wrote and signed it.
    pub(super) author_id: UserId,
    /// How they re-authenticated.
    pub(super) method: String,
    /// When.
    pub(super) created_at: DateTime<Utc>,
    /// Whether its HMAC matches its content.
    pub(super) valid: bool,
}

/// A note as `GET /api/notes/{id}` shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoteView {
    /// The header.
    #[serde(flatten)]
    pub(super) header: NoteHeaderView,
    /// Section name → text, of the current version; absent for a caller who sees headers only
    /// (BILLING, a platform operator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sections: Option<BTreeMap<String, String>>,
    /// Every signature, co-signature and return, oldest first.
    pub(super) signatures: Vec<SignatureView>,
    /// The addenda, by number; absent for a caller who sees headers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) addenda: Option<Vec<AddendumView>>,
    /// Why it was entered in error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) entered_in_error_reason: Option<String>,
}

/// `{"note": {...}}` (content).
#[derive(Debug, Serialize, ToSchema)]
pub struct NoteResponse {
    /// The note.
    pub(super) note: NoteView,
}

/// `{"note": {...}}` (header).
#[derive(Debug, Serialize, ToSchema)]
pub struct NoteHeaderResponse {
    /// The note.
    pub(super) note: NoteHeaderView,
}

/// `{"notes": [...], "pagination": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoteList {
    /// This page (headers only).
    pub(super) notes: Vec<NoteHeaderView>,
    /// Where it is.
    pub(super) pagination: Pagination,
}

/// `{"addendum": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddendumResponse {
    /// The addendum.
    pub(super) addendum: AddendumView,
}
