//! Patients and care teams, as stored: PHI columns are ciphertext here (see `crate::phi`).

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::db::TenantTx;
use crate::ids::{OrganizationId, PatientId, UserId};
use crate::policy::capability::{
    ManagePatients, OfPatient, PatientList, PatientUse, PatientWrite, Scope, Visible,
};

/// A patient row: PHI still encrypted.
#[derive(Debug, Clone, FromRow)]
pub struct PatientRow {
    /// The patient.
    pub id: PatientId,
    /// Ciphertext.
    pub first_name: Vec<u8>,
    /// Ciphertext.
    pub last_name: Vec<u8>,
    /// Ciphertext of `YYYY-MM-DD`.
    pub date_of_birth: Vec<u8>,
    /// Ciphertext.
    pub medical_record_number: Vec<u8>,
    /// Ciphertext.
    pub phone_number: Option<Vec<u8>>,
    /// Ciphertext.
    pub email: Option<Vec<u8>>,
    /// Patient-portal account.
    pub user_id: Option<UserId>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl OfPatient for PatientRow {
    const ENTITY: &'static str = "patient";
    fn entity_id(&self) -> uuid::Uuid {
        self.id.as_uuid()
    }
    fn patient_id(&self) -> PatientId {
        self.id
    }
}

const COLUMNS: &str = "id, first_name, last_name, date_of_birth, medical_record_number, \
     phone_number, email, user_id, created_at, updated_at";
const P_COLUMNS: &str = "p.id, p.first_name, p.last_name, p.date_of_birth, \
     p.medical_record_number, p.phone_number, p.email, p.user_id, p.created_at, p.updated_at";

/// The encrypted columns of a new or changed patient, with its blind indexes.
#[derive(Debug, Default)]
pub struct EncryptedFields {
    /// Ciphertext.
    pub first_name: Option<Vec<u8>>,
    /// Ciphertext.
    pub last_name: Option<Vec<u8>>,
    /// Ciphertext.
    pub date_of_birth: Option<Vec<u8>>,
    /// Ciphertext.
    pub medical_record_number: Option<Vec<u8>>,
    /// Ciphertext; `Some(None)` clears it.
    pub phone_number: Option<Option<Vec<u8>>>,
    /// Ciphertext; `Some(None)` clears it.
    pub email: Option<Option<Vec<u8>>>,
    /// Blind index of the MRN.
    pub mrn_index: Option<[u8; 32]>,
    /// Blind index of the last name.
    pub last_name_index: Option<[u8; 32]>,
}

/// Inserts patient `id`; a duplicate MRN fails with `patients_mrn_unique`.
pub async fn insert(
    tx: &mut TenantTx,
    _may: &ManagePatients,
    id: PatientId,
    fields: &EncryptedFields,
    user_id: Option<UserId>,
) -> Result<PatientRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO patients (organization_id, id, first_name, last_name, date_of_birth, \
             medical_record_number, phone_number, email, mrn_index, last_name_index, user_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(fields.first_name.as_deref())
    .bind(fields.last_name.as_deref())
    .bind(fields.date_of_birth.as_deref())
    .bind(fields.medical_record_number.as_deref())
    .bind(fields.phone_number.clone().flatten())
    .bind(fields.email.clone().flatten())
    .bind(fields.mrn_index.map(|i| i.to_vec()))
    .bind(fields.last_name_index.map(|i| i.to_vec()))
    .bind(user_id)
    .fetch_one(tx.conn())
    .await
}

/// Patient `id` of the transaction's organization, unless deleted.
pub async fn find(
    tx: &mut TenantTx,
    _may: &PatientUse,
    id: PatientId,
) -> Result<Option<PatientRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM patients WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// Exact look-ups by blind index.
#[derive(Debug, Default, Clone, Copy)]
pub struct Lookup {
    /// MRN blind index.
    pub mrn_index: Option<[u8; 32]>,
    /// Last-name blind index.
    pub last_name_index: Option<[u8; 32]>,
}

/// One page of the patients in `scope` matching `lookup`, oldest first, and the total.
pub async fn list(
    tx: &mut TenantTx,
    may: &PatientList,
    lookup: Lookup,
    limit: i64,
    offset: i64,
) -> Result<(Vec<PatientRow>, i64), sqlx::Error> {
    let org = tx.organization_id();
    let care_team_of = match may.scope() {
        Scope::All => None,
        Scope::CareTeamOf(user) => Some(user),
    };
    let filter = "FROM patients p WHERE p.organization_id = $1 AND p.deleted_at IS NULL \
         AND ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM care_team_members c \
              WHERE c.organization_id = p.organization_id AND c.patient_id = p.id AND c.user_id = $2)) \
         AND ($3::bytea IS NULL OR p.mrn_index = $3) \
         AND ($4::bytea IS NULL OR p.last_name_index = $4)";
    let rows = sqlx::query(sqlx::AssertSqlSafe(super::page_query(
        P_COLUMNS,
        filter,
        "p.created_at, p.id",
        5,
    )))
    .bind(org)
    .bind(care_team_of)
    .bind(lookup.mrn_index.map(|i| i.to_vec()))
    .bind(lookup.last_name_index.map(|i| i.to_vec()))
    .bind(limit)
    .bind(offset)
    .fetch_all(tx.conn())
    .await?;
    super::read_page(&rows)
}

/// Applies the changed fields of the patient `may` allows; `None` when there is no such (live)
/// patient.
pub async fn update(
    tx: &mut TenantTx,
    may: &PatientWrite,
    fields: &EncryptedFields,
) -> Result<Option<PatientRow>, sqlx::Error> {
    let org = tx.organization_id();
    let id = may.patient();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE patients SET \
             first_name = coalesce($3, first_name), \
             last_name = coalesce($4, last_name), \
             date_of_birth = coalesce($5, date_of_birth), \
             medical_record_number = coalesce($6, medical_record_number), \
             phone_number = CASE WHEN $7 THEN $8 ELSE phone_number END, \
             email = CASE WHEN $9 THEN $10 ELSE email END, \
             mrn_index = coalesce($11, mrn_index), \
             last_name_index = coalesce($12, last_name_index), \
             updated_at = now() \
         WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(fields.first_name.as_deref())
    .bind(fields.last_name.as_deref())
    .bind(fields.date_of_birth.as_deref())
    .bind(fields.medical_record_number.as_deref())
    .bind(fields.phone_number.is_some())
    .bind(fields.phone_number.clone().flatten())
    .bind(fields.email.is_some())
    .bind(fields.email.clone().flatten())
    .bind(fields.mrn_index.map(|i| i.to_vec()))
    .bind(fields.last_name_index.map(|i| i.to_vec()))
    .fetch_optional(tx.conn())
    .await
}

/// Soft-deletes `patient`; whether there was one to delete.
pub async fn soft_delete(
    tx: &mut TenantTx,
    _may: &ManagePatients,
    patient: &Visible<PatientRow>,
) -> Result<bool, sqlx::Error> {
    let org = tx.organization_id();
    let id = patient.row().id;
    sqlx::query(
        "UPDATE patients SET deleted_at = now(), updated_at = now() \
         WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
    )
    .bind(org)
    .bind(id)
    .execute(tx.conn())
    .await
    .map(|r| r.rows_affected() > 0)
}

/// The organization that holds patient `id`, whichever it is (to audit cross-tenant attempts).
pub async fn organization_of(
    tx: &mut TenantTx,
    id: PatientId,
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.patient_organization($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}

/// Whether `user` is on patient `id`'s care team.
pub async fn on_care_team(
    tx: &mut TenantTx,
    patient: PatientId,
    user: UserId,
) -> Result<bool, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM care_team_members \
                        WHERE organization_id = $1 AND patient_id = $2 AND user_id = $3)",
    )
    .bind(org)
    .bind(patient)
    .bind(user)
    .fetch_one(tx.conn())
    .await
}

/// A care-team member as the API shows them (staff, not PHI).
#[derive(Debug, Clone, serde::Serialize, FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CareTeamMember {
    /// The clinician.
    pub user_id: UserId,
    /// Their login.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Role (their current one: `CLINICIAN` when added, but a user's role may change later).
    #[schema(value_type = crate::domain::Role)]
    pub role: String,
    /// When they joined the team.
    pub added_at: DateTime<Utc>,
}

/// Patient `id`'s care team.
pub async fn care_team(
    tx: &mut TenantTx,
    patient: &Visible<PatientRow>,
) -> Result<Vec<CareTeamMember>, sqlx::Error> {
    let org = tx.organization_id();
    let patient = patient.row().id;
    sqlx::query_as(
        "SELECT u.id AS user_id, u.email, u.first_name, u.last_name, u.role, c.created_at AS added_at \
         FROM care_team_members c JOIN users u ON u.organization_id = c.organization_id AND u.id = c.user_id \
         WHERE c.organization_id = $1 AND c.patient_id = $2 ORDER BY c.created_at, u.id",
    )
    .bind(org)
    .bind(patient)
    .fetch_all(tx.conn())
    .await
}

/// Adds `user` to patient `id`'s care team; false when already on it.
pub async fn add_to_care_team(
    tx: &mut TenantTx,
    _may: &ManagePatients,
    patient: &Visible<PatientRow>,
    user: UserId,
    added_by: UserId,
) -> Result<bool, sqlx::Error> {
    let org = tx.organization_id();
    let patient = patient.row().id;
    sqlx::query(
        "INSERT INTO care_team_members (organization_id, patient_id, user_id, added_by) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(org)
    .bind(patient)
    .bind(user)
    .bind(added_by)
    .execute(tx.conn())
    .await
    .map(|r| r.rows_affected() > 0)
}

/// Removes `user` from patient `id`'s care team; false when not on it.
pub async fn remove_from_care_team(
    tx: &mut TenantTx,
    _may: &ManagePatients,
    patient: &Visible<PatientRow>,
    user: UserId,
) -> Result<bool, sqlx::Error> {
    let org = tx.organization_id();
    let patient = patient.row().id;
    sqlx::query("DELETE FROM care_team_members WHERE organization_id = $1 AND patient_id = $2 AND user_id = $3")
        .bind(org)
        .bind(patient)
        .bind(user)
        .execute(tx.conn())
        .await
        .map(|r| r.rows_affected() > 0)
}
