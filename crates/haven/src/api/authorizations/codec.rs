//! Between a stored authorization and the API's JSON. The member id is PHI: AES-256-GCM
//! ciphertext bound to (organization, `authorizations`, `member_id`, row), like demographics.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::app::AppState;
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::phi::{DataKey, FieldRef};
use crate::store::authorizations::AuthorizationRow;

fn field(tx: &TenantTx, row: Uuid) -> FieldRef {
    FieldRef {
        organization_id: tx.organization_id(),
        table: "authorizations",
        column: "member_id",
        row,
    }
}

/// Encrypts the member id of authorization `row`.
pub(super) fn seal_member_id(key: &DataKey, tx: &TenantTx, row: Uuid, value: &str) -> Vec<u8> {
    key.encrypt(&field(tx, row), value)
}

/// The authorization as JSON (SPEC §5 shape, plus memberId, lowUnitsThreshold and timestamps).
pub(crate) async fn to_json(
    state: &AppState,
    tx: &mut TenantTx,
    row: &AuthorizationRow,
) -> Result<Value, AppError> {
    let member_id = match &row.member_id {
        Some(blob) => {
            let reference = field(tx, row.id);
            let plain = state
                .keyring()
                .decrypt(tx, &reference, blob)
                .await
                .map_err(|_| {
                    // Fail closed: never shown, the cause is a key or integrity problem.
                    AppError::Internal(anyhow::anyhow!("authorization member_id does not decrypt"))
                })?;
            Value::String(plain.as_str().to_owned())
        }
        None => Value::Null,
    };
    Ok(json!({
        "id": row.id,
        "patientId": row.patient_id,
        "payerName": row.payer_name,
        "memberId": member_id,
        "serviceCode": row.service_code,
        "unitMinutes": row.unit_minutes,
        "totalUnits": row.total_units,
        "usedUnits": row.used_units,
        "availableUnits": row.available_units(),
        "startDate": row.start_date,
        "endDate": row.end_date,
        "lowUnitsThreshold": row.low_units_threshold,
        "lowUnits": row.low_units_alerted,
        "status": row.status,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
    }))
}
