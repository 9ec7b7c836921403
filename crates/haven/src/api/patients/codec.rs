//! Between a patient's stored ciphertext and the API's JSON.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::ids::PatientId;
use crate::ids::UserId;
use crate::phi::{DataKey, FieldRef};
use crate::policy::patients::View;
use crate::store::patients::PatientRow;

/// The table the PHI columns live in (part of every field's AAD).
pub const TABLE: &str = "patients";

/// The reference (AAD) of one PHI field of patient `row` in the transaction's organization.
pub fn field(tx: &TenantTx, column: &'static str, row: Uuid) -> FieldRef {
    FieldRef {
        organization_id: tx.organization_id(),
        table: TABLE,
        column,
        row,
    }
}

/// Encrypts one field of patient `row`.
pub fn seal(key: &DataKey, tx: &TenantTx, column: &'static str, row: Uuid, value: &str) -> Vec<u8> {
    key.encrypt(&field(tx, column, row), value)
}

/// A store error from writing a patient: the MRN's unique index means 409, anything else is
/// internal.
pub fn mrn_conflict(error: sqlx::Error) -> AppError {
    if crate::store::is_unique_violation(&error, "patients_mrn_unique") {
        AppError::new(
            crate::http::error::ErrorCode::Conflict,
            "A patient with this medical record number already exists",
        )
    } else {
        error.into()
    }
}

fn broken(column: &str) -> AppError {
    // Fail closed: a field that does not decrypt is a key or integrity problem, never shown.
    AppError::Internal(anyhow::anyhow!("patient field {column} does not decrypt"))
}

async fn open(
    state: &AppState,
    tx: &mut TenantTx,
    column: &'static str,
    row: Uuid,
    blob: &[u8],
) -> Result<String, AppError> {
    let reference = field(tx, column, row);
    let plain = state
        .keyring()
        .decrypt(tx, &reference, blob)
        .await
        .map_err(|_| broken(column))?;
    Ok(plain.as_str().to_owned())
}

async fn open_optional(
    state: &AppState,
    tx: &mut TenantTx,
    column: &'static str,
    row: Uuid,
    blob: Option<&[u8]>,
) -> Result<Option<String>, AppError> {
    match blob {
        Some(blob) => open(state, tx, column, row, blob).await.map(Some),
        None => Ok(None),
    }
}

/// A patient as the API shows them. Who sees what: ADMIN, a CLINICIAN on the care team and
/// anyone acting through an emergency (break-the-glass) grant see every field; BILLING sees the
/// name, date of birth and MRN only, and the other fields are then *absent* (not `null`); a
/// platform operator acting in the practice sees the ids only: names, date of birth and MRN
/// read `***`, phone number and email are absent.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    /// The patient's id.
    id: PatientId,
    /// Given name.
    first_name: String,
    /// Family name.
    last_name: String,
    /// Date of birth, `YYYY-MM-DD`.
    #[schema(format = Date, example = "2015-04-30")]
    date_of_birth: String,
    /// Medical record number (unique within the practice).
    #[schema(example = "MRN-0042")]
    medical_record_number: String,
    /// Phone number, `null` when none is on file. Absent from the BILLING view.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    phone_number: Option<Option<String>>,
    /// Email address, `null` when none is on file. Absent from the BILLING view.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    /// The linked patient-portal user, `null` when none. Absent from the BILLING view.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Uuid>)]
    user_id: Option<Option<UserId>>,
    /// When the record was created. Absent from the BILLING view.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = DateTime<Utc>)]
    created_at: Option<DateTime<Utc>>,
    /// When the record last changed. Absent from the BILLING view.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = DateTime<Utc>)]
    updated_at: Option<DateTime<Utc>>,
}

/// `{"patient": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientResponse {
    /// The patient.
    pub patient: Patient,
}

/// What a masked field shows (a platform operator acting in a practice sees no PHI).
pub const MASKED: &str = "***";

/// The patient, decrypting only the fields `view` shows.
pub async fn to_patient(
    state: &AppState,
    tx: &mut TenantTx,
    row: &PatientRow,
    view: View,
) -> Result<Patient, AppError> {
    if view == View::Masked {
        return Ok(Patient {
            id: row.id,
            first_name: MASKED.to_owned(),
            last_name: MASKED.to_owned(),
            date_of_birth: MASKED.to_owned(),
            medical_record_number: MASKED.to_owned(),
            phone_number: None,
            email: None,
            user_id: Some(row.user_id),
            created_at: Some(row.created_at),
            updated_at: Some(row.updated_at),
        });
    }
    let id = row.id.as_uuid();
    let mut patient = Patient {
        id: row.id,
        first_name: open(state, tx, "first_name", id, &row.first_name).await?,
        last_name: open(state, tx, "last_name", id, &row.last_name).await?,
        date_of_birth: open(state, tx, "date_of_birth", id, &row.date_of_birth).await?,
        medical_record_number: open(
            state,
            tx,
            "medical_record_number",
            id,
            &row.medical_record_number,
        )
        .await?,
        phone_number: None,
        email: None,
        user_id: None,
        created_at: None,
        updated_at: None,
    };
    if matches!(view, View::Full | View::FrontDesk) {
        patient.phone_number =
            Some(open_optional(state, tx, "phone_number", id, row.phone_number.as_deref()).await?);
        patient.email = Some(open_optional(state, tx, "email", id, row.email.as_deref()).await?);
    }
    if view == View::Full {
        patient.user_id = Some(row.user_id);
        patient.created_at = Some(row.created_at);
        patient.updated_at = Some(row.updated_at);
    }
    Ok(patient)
}
