//! Clinical notes, as stored: headers in `notes`, content per version in `note_versions`
//! (ciphertext), signatures and addenda append-only. Triggers refuse changing a non-draft's
//! content (see `crate::notes`).

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::db::TenantTx;
use crate::ids::{
    AddendumId, AppointmentId, NoteId, OrganizationId, PatientId, SignatureId, TherapySessionId,
    UserId,
};
use crate::policy::capability::{
    NoteAdmin, NoteAmend, NoteAuthor, NoteCreate, NoteHeader, NoteList, NoteScope, NoteSupervisor,
    NoteUse, OfPatient,
};

/// A note's header row (no content).
#[derive(Debug, Clone, FromRow)]
pub struct NoteRow {
    /// The note.
    pub id: NoteId,
    /// Whose.
    pub patient_id: PatientId,
    /// Who wrote it.
    pub author_id: UserId,
    /// The appointment it documents.
    pub appointment_id: Option<AppointmentId>,
    /// The §5 session it documents.
    pub session_id: Option<TherapySessionId>,
    /// PROGRESS, INTAKE, ...
    pub note_type: String,
    /// SOAP, DAP, BIRP, GIRP or FREE.
    pub format: String,
    /// DRAFT, PENDING_COSIGN, SIGNED or ENTERED_IN_ERROR.
    pub status: String,
    /// The current version.
    pub version: i32,
    /// ICD-10-CM codes of the current version.
    pub diagnosis_codes: Vec<String>,
    /// When the service happened.
    pub service_at: DateTime<Utc>,
    /// When the note is due.
    pub due_at: DateTime<Utc>,
    /// Whether the overdue job flagged it.
    pub overdue: bool,
    /// When the author signed (the current signature).
    pub signed_at: Option<DateTime<Utc>>,
    /// Who signed.
    pub signed_by: Option<UserId>,
    /// When the co-signature is due.
    pub cosign_due_at: Option<DateTime<Utc>>,
    /// When the supervisor co-signed.
    pub cosigned_at: Option<DateTime<Utc>>,
    /// Who co-signed.
    pub cosigned_by: Option<UserId>,
    /// When it was marked entered in error.
    pub entered_in_error_at: Option<DateTime<Utc>>,
    /// By whom.
    pub entered_in_error_by: Option<UserId>,
    /// Why (ciphertext).
    pub entered_in_error_reason: Option<Vec<u8>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl OfPatient for NoteRow {
    const ENTITY: &'static str = "note";
    fn entity_id(&self) -> uuid::Uuid {
        self.id.as_uuid()
    }
    fn patient_id(&self) -> PatientId {
        self.patient_id
    }
}

impl NoteHeader for NoteRow {
    fn author_id(&self) -> UserId {
        self.author_id
    }
    fn is_psychotherapy(&self) -> bool {
        self.note_type == "PSYCHOTHERAPY"
    }
}

const COLUMNS: &str = "id, patient_id, author_id, appointment_id, session_id, note_type, format, \
     status, version, diagnosis_codes, service_at, due_at, overdue, signed_at, signed_by, \
     cosign_due_at, cosigned_at, cosigned_by, entered_in_error_at, entered_in_error_by, \
     entered_in_error_reason, created_at, updated_at";

/// A note to write.
#[derive(Debug)]
pub struct NewNote<'a> {
    /// Its id.
    pub id: NoteId,
    /// Whose.
    pub patient_id: PatientId,
    /// The author.
    pub author_id: UserId,
    /// The appointment documented.
    pub appointment_id: Option<AppointmentId>,
    /// The session documented.
    pub session_id: Option<TherapySessionId>,
    /// Its type.
    pub note_type: &'a str,
    /// Its format.
    pub format: &'a str,
    /// Its codes.
    pub diagnosis_codes: &'a [String],
    /// When the service happened.
    pub service_at: DateTime<Utc>,
    /// Version 1's sections, encrypted.
    pub sections: Vec<u8>,
}

/// Inserts a DRAFT note at version 1, due the practice's `note_due_hours` after the service,
/// and its first version.
pub async fn insert(
    tx: &mut TenantTx,
    _may: &NoteCreate,
    new: &NewNote<'_>,
) -> Result<NoteRow, sqlx::Error> {
    let org = tx.organization_id();
    let row: NoteRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO notes (organization_id, id, patient_id, author_id, appointment_id, session_id, \
             note_type, format, diagnosis_codes, service_at, due_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                $10 + make_interval(hours => o.note_due_hours) \
         FROM organizations o WHERE o.id = $1 \
         RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(new.id)
    .bind(new.patient_id)
    .bind(new.author_id)
    .bind(new.appointment_id)
    .bind(new.session_id)
    .bind(new.note_type)
    .bind(new.format)
    .bind(new.diagnosis_codes)
    .bind(new.service_at)
    .fetch_one(tx.conn())
    .await?;
    insert_version(
        tx,
        new.id,
        1,
        &new.sections,
        new.diagnosis_codes,
        new.author_id,
    )
    .await?;
    Ok(row)
}

async fn insert_version(
    tx: &mut TenantTx,
    note: NoteId,
    version: i32,
    sections: &[u8],
    codes: &[String],
    by: UserId,
) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "INSERT INTO note_versions (organization_id, note_id, version, sections, diagnosis_codes, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(org)
    .bind(note)
    .bind(version)
    .bind(sections)
    .bind(codes)
    .bind(by)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// Note `id` of the transaction's organization (locked until the transaction ends when
/// `lock`).
pub async fn find(
    tx: &mut TenantTx,
    _may: &NoteUse,
    id: NoteId,
    lock: bool,
) -> Result<Option<NoteRow>, sqlx::Error> {
    let org = tx.organization_id();
    let suffix = if lock { " FOR UPDATE" } else { "" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM notes WHERE organization_id = $1 AND id = $2{suffix}"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// Which organization holds note `id`, if any.
pub async fn organization_of(
    tx: &mut TenantTx,
    id: NoteId,
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.note_organization($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}

/// One version's content, still encrypted.
#[derive(Debug, Clone, FromRow)]
pub struct VersionRow {
    /// The version.
    pub version: i32,
    /// Ciphertext of the sections.
    pub sections: Vec<u8>,
    /// Its codes.
    pub diagnosis_codes: Vec<String>,
    /// Who wrote it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Version `version` of note `note`.
pub async fn version(
    tx: &mut TenantTx,
    note: NoteId,
    version: i32,
) -> Result<Option<VersionRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "SELECT version, sections, diagnosis_codes, created_by, created_at FROM note_versions \
         WHERE organization_id = $1 AND note_id = $2 AND version = $3",
    )
    .bind(org)
    .bind(note)
    .bind(version)
    .fetch_optional(tx.conn())
    .await
}

/// A draft's next version: new codes and sections (encrypted for `version`), by its author. The
/// caller holds the note's row lock and has checked it is a DRAFT at `version - 1`.
pub async fn update_draft(
    tx: &mut TenantTx,
    _may: &NoteAuthor,
    note: NoteId,
    version: i32,
    codes: &[String],
    sections: &[u8],
    by: UserId,
) -> Result<NoteRow, sqlx::Error> {
    let org = tx.organization_id();
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE notes SET version = $3, diagnosis_codes = $4, updated_at = now() \
         WHERE organization_id = $1 AND id = $2 AND status = 'DRAFT' AND version = $3 - 1 \
         RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(note)
    .bind(version)
    .bind(codes)
    .fetch_one(tx.conn())
    .await?;
    insert_version(tx, note, version, sections, codes, by).await?;
    Ok(row)
}

/// A signature to write.
#[derive(Debug)]
pub struct NewSignature<'a> {
    /// Its id.
    pub id: SignatureId,
    /// The note.
    pub note: NoteId,
    /// The version signed.
    pub version: i32,
    /// SIGN, COSIGN or RETURN.
    pub kind: &'a str,
    /// Who.
    pub signer: UserId,
    /// `password` or `mfa`.
    pub method: &'a str,
    /// The signing key's id.
    pub key_id: uuid::Uuid,
    /// HMAC of the version.
    pub hmac: &'a [u8],
    /// The encrypted attestation or comment.
    pub statement: Option<Vec<u8>>,
}

/// A stored signature.
#[derive(Debug, Clone, FromRow)]
pub struct SignatureRow {
    /// The signature.
    pub id: SignatureId,
    /// The version signed.
    pub version: i32,
    /// SIGN, COSIGN or RETURN.
    pub kind: String,
    /// Who.
    pub signer_id: UserId,
    /// `password` or `mfa`.
    pub method: String,
    /// The signing key.
    pub key_id: uuid::Uuid,
    /// HMAC of the version.
    pub hmac: Vec<u8>,
    /// Encrypted statement.
    pub statement: Option<Vec<u8>>,
    /// When.
    pub signed_at: DateTime<Utc>,
}

async fn insert_signature(tx: &mut TenantTx, new: &NewSignature<'_>) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "INSERT INTO note_signatures (organization_id, id, note_id, version, kind, signer_id, \
             method, key_id, hmac, statement) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(org)
    .bind(new.id)
    .bind(new.note)
    .bind(new.version)
    .bind(new.kind)
    .bind(new.signer)
    .bind(new.method)
    .bind(new.key_id)
    .bind(new.hmac)
    .bind(new.statement.as_deref())
    .execute(tx.conn())
    .await
    .map(drop)
}

/// The author's signature: stores it and moves the locked DRAFT to `status` (SIGNED, or
/// PENDING_COSIGN with its due time).
pub async fn sign(
    tx: &mut TenantTx,
    _may: &NoteAuthor,
    signature: &NewSignature<'_>,
    status: &str,
    cosign_due_at: Option<DateTime<Utc>>,
) -> Result<NoteRow, sqlx::Error> {
    insert_signature(tx, signature).await?;
    let org = tx.organization_id();
    let row: NoteRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE notes SET status = $4, signed_at = now(), signed_by = $3, cosign_due_at = $5, \
             updated_at = now() \
         WHERE organization_id = $1 AND id = $2 AND status = 'DRAFT' RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(signature.note)
    .bind(signature.signer)
    .bind(status)
    .bind(cosign_due_at)
    .fetch_one(tx.conn())
    .await?;
    // The holds of the charges this note documents change with it, in this transaction.
    super::charges::reevaluate(tx, super::charges::Scope::Note(row.id)).await?;
    Ok(row)
}

/// The supervisor's approval: stores the co-signature and makes the locked PENDING_COSIGN note
/// SIGNED.
pub async fn cosign(
    tx: &mut TenantTx,
    _may: &NoteSupervisor,
    signature: &NewSignature<'_>,
) -> Result<NoteRow, sqlx::Error> {
    insert_signature(tx, signature).await?;
    let org = tx.organization_id();
    let row: NoteRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE notes SET status = 'SIGNED', cosigned_at = now(), cosigned_by = $3, \
             updated_at = now() \
         WHERE organization_id = $1 AND id = $2 AND status = 'PENDING_COSIGN' RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(signature.note)
    .bind(signature.signer)
    .fetch_one(tx.conn())
    .await?;
    super::charges::reevaluate(tx, super::charges::Scope::Note(row.id)).await?;
    Ok(row)
}

/// The supervisor's return: stores it (the author's signature stays), moves the locked
/// PENDING_COSIGN note back to DRAFT at the next version and writes that version (the same
/// content, encrypted for it).
pub async fn send_back(
    tx: &mut TenantTx,
    _may: &NoteSupervisor,
    signature: &NewSignature<'_>,
    codes: &[String],
    sections: &[u8],
) -> Result<NoteRow, sqlx::Error> {
    insert_signature(tx, signature).await?;
    let org = tx.organization_id();
    let row: NoteRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE notes SET status = 'DRAFT', version = version + 1, signed_at = NULL, \
             signed_by = NULL, cosign_due_at = NULL, updated_at = now() \
         WHERE organization_id = $1 AND id = $2 AND status = 'PENDING_COSIGN' RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(signature.note)
    .fetch_one(tx.conn())
    .await?;
    insert_version(tx, row.id, row.version, sections, codes, signature.signer).await?;
    super::charges::reevaluate(tx, super::charges::Scope::Note(row.id)).await?;
    Ok(row)
}

/// The signatures of note `note`, oldest first.
pub async fn signatures(tx: &mut TenantTx, note: NoteId) -> Result<Vec<SignatureRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "SELECT id, version, kind, signer_id, method, key_id, hmac, statement, signed_at \
         FROM note_signatures WHERE organization_id = $1 AND note_id = $2 \
         ORDER BY signed_at, id",
    )
    .bind(org)
    .bind(note)
    .fetch_all(tx.conn())
    .await
}

/// A stored addendum.
#[derive(Debug, Clone, FromRow)]
pub struct AddendumRow {
    /// The addendum.
    pub id: AddendumId,
    /// Its number within the note.
    pub number: i32,
    /// ADDENDUM, CORRECTION or LATE_ENTRY.
    pub kind: String,
    /// Ciphertext of reason and text.
    pub content: Vec<u8>,
    /// Who wrote and signed it.
    pub author_id: UserId,
    /// `password` or `mfa`.
    pub method: String,
    /// The signing key.
    pub key_id: uuid::Uuid,
    /// HMAC of the addendum.
    pub hmac: Vec<u8>,
    /// When.
    pub created_at: DateTime<Utc>,
}

const ADDENDUM_COLUMNS: &str =
    "id, number, kind, content, author_id, method, key_id, hmac, created_at";

/// The number the next addendum of note `note` gets. The caller holds the note's row lock, so
/// no other addendum of the note is numbered meanwhile (the unique constraint backs this).
pub async fn next_addendum_number(tx: &mut TenantTx, note: NoteId) -> Result<i32, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar(
        "SELECT coalesce(max(number), 0) + 1 FROM note_addenda \
         WHERE organization_id = $1 AND note_id = $2",
    )
    .bind(org)
    .bind(note)
    .fetch_one(tx.conn())
    .await
}

/// An addendum to write.
#[derive(Debug)]
pub struct NewAddendum<'a> {
    /// The note.
    pub note: NoteId,
    /// Its number ([`next_addendum_number`]).
    pub number: i32,
    /// Its kind.
    pub kind: &'a str,
    /// Ciphertext.
    pub content: Vec<u8>,
    /// Its author.
    pub author: UserId,
    /// `password` or `mfa`.
    pub method: &'a str,
    /// The signing key.
    pub key_id: uuid::Uuid,
    /// HMAC.
    pub hmac: &'a [u8],
}

/// Appends an addendum to a signed note.
pub async fn insert_addendum(
    tx: &mut TenantTx,
    _may: &NoteAmend,
    new: &NewAddendum<'_>,
) -> Result<AddendumRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO note_addenda (organization_id, id, note_id, number, kind, content, author_id, \
             method, key_id, hmac) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {ADDENDUM_COLUMNS}"
    )))
    .bind(org)
    .bind(AddendumId::new())
    .bind(new.note)
    .bind(new.number)
    .bind(new.kind)
    .bind(&new.content)
    .bind(new.author)
    .bind(new.method)
    .bind(new.key_id)
    .bind(new.hmac)
    .fetch_one(tx.conn())
    .await
}

/// The addenda of note `note`, by number.
pub async fn addenda(tx: &mut TenantTx, note: NoteId) -> Result<Vec<AddendumRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ADDENDUM_COLUMNS} FROM note_addenda \
         WHERE organization_id = $1 AND note_id = $2 ORDER BY number"
    )))
    .bind(org)
    .bind(note)
    .fetch_all(tx.conn())
    .await
}

/// Deletes a draft that was never signed (a returned note keeps its history); `false` when it
/// is not such a draft.
pub async fn delete_draft(
    tx: &mut TenantTx,
    _may: &NoteAdmin,
    note: NoteId,
) -> Result<bool, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "DELETE FROM notes n WHERE n.organization_id = $1 AND n.id = $2 AND n.status = 'DRAFT' \
           AND NOT EXISTS (SELECT 1 FROM note_signatures s \
                           WHERE s.organization_id = n.organization_id AND s.note_id = n.id)",
    )
    .bind(org)
    .bind(note)
    .execute(tx.conn())
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Marks a note entered in error (kept, never deleted), with its encrypted reason.
pub async fn enter_in_error(
    tx: &mut TenantTx,
    _may: &NoteAdmin,
    note: NoteId,
    by: UserId,
    reason: &[u8],
) -> Result<NoteRow, sqlx::Error> {
    let org = tx.organization_id();
    let row: NoteRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE notes SET status = 'ENTERED_IN_ERROR', entered_in_error_at = now(), \
             entered_in_error_by = $3, entered_in_error_reason = $4, updated_at = now() \
         WHERE organization_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(note)
    .bind(by)
    .bind(reason)
    .fetch_one(tx.conn())
    .await?;
    super::charges::reevaluate(tx, super::charges::Scope::Note(row.id)).await?;
    Ok(row)
}

/// The filter of a list.
#[derive(Debug, Default)]
pub struct Filter {
    /// One patient's.
    pub patient_id: Option<PatientId>,
    /// One status.
    pub status: Option<String>,
    /// One author's.
    pub author_id: Option<UserId>,
    /// Due before.
    pub due_before: Option<DateTime<Utc>>,
    /// Only notes pending the caller's co-signature.
    pub awaiting_my_cosign: bool,
}

/// One page of the note headers the caller may list, and the total; one statement, no
/// content read. Psychotherapy notes are listed only to their author and the author's current
/// supervisor; a CLINICIAN sees their own, their supervisees' and their care-team patients'.
pub async fn list(
    tx: &mut TenantTx,
    may: &NoteList,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<NoteRow>, i64), sqlx::Error> {
    let org = tx.organization_id();
    let clinician = match may.scope() {
        NoteScope::All => None,
        NoteScope::ClinicianOf(user) => Some(user),
    };
    let filter_sql = "FROM notes n \
         CROSS JOIN LATERAL (SELECT n.author_id = $2 AS mine, EXISTS (\
             SELECT 1 FROM supervision_assignments s WHERE s.organization_id = n.organization_id \
               AND s.supervisee_id = n.author_id AND s.supervisor_id = $2 \
               AND s.active @> now()) AS supervising) rel \
         WHERE n.organization_id = $1 \
           AND (n.note_type <> 'PSYCHOTHERAPY' OR rel.mine OR rel.supervising) \
           AND (NOT $3 OR rel.mine OR rel.supervising OR EXISTS (SELECT 1 FROM care_team_members c \
                WHERE c.organization_id = $1 AND c.patient_id = n.patient_id AND c.user_id = $2)) \
           AND ($4::uuid IS NULL OR n.patient_id = $4) \
           AND ($5::text IS NULL OR n.status = $5) \
           AND ($6::uuid IS NULL OR n.author_id = $6) \
           AND ($7::timestamptz IS NULL OR n.due_at < $7) \
           AND (NOT $8 OR (n.status = 'PENDING_COSIGN' AND rel.supervising))";
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("n.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = super::page_query(&columns, filter_sql, "n.service_at DESC, n.id", 9);
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(may.user())
        .bind(clinician.is_some())
        .bind(filter.patient_id)
        .bind(filter.status.as_deref())
        .bind(filter.author_id)
        .bind(filter.due_before)
        .bind(filter.awaiting_my_cosign)
        .bind(limit)
        .bind(offset)
        .fetch_all(tx.conn())
        .await?;
    super::read_page(&rows)
}

/// Flags the transaction's organization's drafts past due (still editable), in one statement
/// with one `NOTE_OVERDUE` audit row each; returns how many.
pub async fn mark_overdue(tx: &mut TenantTx) -> Result<i64, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar(
        "WITH flagged AS ( \
             UPDATE notes SET overdue = true, updated_at = now() \
             WHERE organization_id = $1 AND status = 'DRAFT' AND NOT overdue AND due_at <= now() \
             RETURNING organization_id, id, patient_id, author_id, due_at), \
         audit AS ( \
             INSERT INTO audit_outbox (organization_id, id, occurred_at, user_id, role, action, \
                 entity_type, entity_id, patient_id, access_method, outcome, request_id, details) \
             SELECT organization_id, haven_units.uuid_v7(), now(), NULL, NULL, 'NOTE_OVERDUE', \
                 'note', id::text, patient_id, 'system', 'success', NULL, \
                 jsonb_build_object('authorId', author_id, 'dueAt', due_at) \
             FROM flagged) \
         SELECT count(*) FROM flagged",
    )
    .bind(org)
    .fetch_one(tx.conn())
    .await
}

/// Organizations with drafts past due not yet flagged, across tenants, through the narrow
/// SECURITY DEFINER look-up (ids only). `pool` is the runtime pool with no tenant set.
pub async fn organizations_with_overdue_notes(
    pool: &sqlx::PgPool,
) -> Result<Vec<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.organizations_with_overdue_notes(now())")
        .fetch_all(pool)
        .await
}
