//! Between a patient's stored ciphertext and the API's JSON.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::app::AppState;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::phi::{DataKey, FieldRef};
use crate::policy::View;
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
) -> Result<Value, AppError> {
    let reference = field(tx, column, row);
    let plain = state
        .keyring()
        .decrypt(tx, &reference, blob)
        .await
        .map_err(|_| broken(column))?;
    Ok(Value::String(plain.as_str().to_owned()))
}

/// The patient as JSON, decrypting only the fields `view` shows.
pub async fn to_json(
    state: &AppState,
    tx: &mut TenantTx,
    row: &PatientRow,
    view: View,
) -> Result<Value, AppError> {
    let mut out = Map::new();
    out.insert("id".into(), json!(row.id));
    out.insert(
        "firstName".into(),
        open(state, tx, "first_name", row.id, &row.first_name).await?,
    );
    out.insert(
        "lastName".into(),
        open(state, tx, "last_name", row.id, &row.last_name).await?,
    );
    out.insert(
        "dateOfBirth".into(),
        open(state, tx, "date_of_birth", row.id, &row.date_of_birth).await?,
    );
    out.insert(
        "medicalRecordNumber".into(),
        open(
            state,
            tx,
            "medical_record_number",
            row.id,
            &row.medical_record_number,
        )
        .await?,
    );
    if view == View::Full {
        let phone = match &row.phone_number {
            Some(blob) => open(state, tx, "phone_number", row.id, blob).await?,
            None => Value::Null,
        };
        let email = match &row.email {
            Some(blob) => open(state, tx, "email", row.id, blob).await?,
            None => Value::Null,
        };
        out.insert("phoneNumber".into(), phone);
        out.insert("email".into(), email);
        out.insert("userId".into(), json!(row.user_id));
        out.insert("createdAt".into(), json!(row.created_at));
        out.insert("updatedAt".into(), json!(row.updated_at));
    }
    Ok(Value::Object(out))
}
