//! Between a stored authorization and the API's JSON. The member id is PHI: AES-256-GCM
//! ciphertext bound to (organization, `authorizations`, `member_id`, row), like demographics.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ids::{AuthorizationId, PatientId};

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

/// An authorization's effective status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorizationStatus {
    /// In force: sessions may reserve its units.
    Active,
    /// Every unit is used.
    Exhausted,
    /// Its end date has passed.
    Expired,
    /// Withdrawn; holds nothing.
    Cancelled,
}

impl AuthorizationStatus {
    /// The status stored as `text` (see `crate::units::AUTHORIZATION_STATUSES`).
    #[must_use]
    fn from_stored(text: &str) -> Option<Self> {
        match text {
            "ACTIVE" => Some(Self::Active),
            "EXHAUSTED" => Some(Self::Exhausted),
            "EXPIRED" => Some(Self::Expired),
            "CANCELLED" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// An insurance authorization: units of one service for one patient over a period (SPEC §5
/// shape, plus `memberId`, `lowUnitsThreshold`, `lowUnits` and timestamps).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    /// The authorization's id.
    id: AuthorizationId,
    /// The patient it covers.
    patient_id: PatientId,
    /// The insurer.
    payer_name: String,
    /// The patient's member id with the payer (PHI), `null` when none was given.
    #[schema(required = true)]
    member_id: Option<String>,
    /// The CPT/HCPCS-like service code, upper case.
    #[schema(example = "97153")]
    service_code: String,
    /// Minutes per unit.
    unit_minutes: i32,
    /// Units allowed.
    total_units: i32,
    /// Units held by sessions, consumed, or adjusted.
    used_units: i32,
    /// `totalUnits - usedUnits`.
    available_units: i32,
    /// First day covered, `YYYY-MM-DD`.
    start_date: NaiveDate,
    /// Last day covered, `YYYY-MM-DD`.
    end_date: NaiveDate,
    /// Below this many available units the authorization counts as low.
    low_units_threshold: i32,
    /// Whether the available units are below the threshold now.
    low_units: bool,
    /// The effective status: `EXPIRED` once the end date has passed (UTC).
    status: AuthorizationStatus,
    /// Created.
    created_at: DateTime<Utc>,
    /// Last changed.
    updated_at: DateTime<Utc>,
}

/// `{"authorization": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationResponse {
    /// The authorization.
    pub authorization: Authorization,
}

/// The authorization as the API shows it, its member id decrypted, or masked (`***`) unless
/// `shows_member_id` (see `policy::units::sees_member_ids`).
pub(crate) async fn to_authorization(
    state: &AppState,
    tx: &mut TenantTx,
    row: &AuthorizationRow,
    shows_member_id: bool,
) -> Result<Authorization, AppError> {
    let member_id = match &row.member_id {
        Some(_) if !shows_member_id => Some(crate::api::patients::codec::MASKED.to_owned()),
        Some(blob) => {
            let reference = field(tx, row.id.as_uuid());
            let plain = state
                .keyring()
                .decrypt(tx, &reference, blob)
                .await
                .map_err(|_| {
                    // Fail closed: never shown, the cause is a key or integrity problem.
                    AppError::Internal(anyhow::anyhow!("authorization member_id does not decrypt"))
                })?;
            Some(plain.as_str().to_owned())
        }
        None => None,
    };
    let status = AuthorizationStatus::from_stored(&row.status).ok_or_else(|| {
        // The table's CHECK constraint allows only the four; anything else is corruption.
        AppError::Internal(anyhow::anyhow!(
            "authorization {} has an unknown status",
            row.id
        ))
    })?;
    Ok(Authorization {
        id: row.id,
        patient_id: row.patient_id,
        payer_name: row.payer_name.clone(),
        member_id,
        service_code: row.service_code.clone(),
        unit_minutes: row.unit_minutes,
        total_units: row.total_units,
        used_units: row.used_units,
        available_units: row.available_units(),
        start_date: row.start_date,
        end_date: row.end_date,
        low_units_threshold: row.low_units_threshold,
        low_units: row.low_units_alerted,
        status,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::AUTHORIZATION_STATUSES;

    #[test]
    fn every_stored_status_is_served_as_stored() {
        for stored in AUTHORIZATION_STATUSES {
            let status = AuthorizationStatus::from_stored(stored).expect("a known status");
            assert_eq!(
                serde_json::to_value(status).expect("serializes"),
                serde_json::Value::from(stored)
            );
        }
        assert_eq!(AuthorizationStatus::from_stored("active"), None);
    }
}
