//! A stored session as the API's JSON.

use serde_json::{Value, json};

use crate::store::sessions_units::SessionRow;

/// The session as JSON: `expectedUnits` are the units it holds while open.
pub(super) fn to_json(row: &SessionRow) -> Value {
    json!({
        "id": row.id,
        "authorizationId": row.authorization_id,
        "patientId": row.patient_id,
        "clinicianId": row.clinician_id,
        "startTime": row.start_time,
        "expectedUnits": row.reserved_units,
        "unitMinutes": row.unit_minutes,
        "actualUnits": row.actual_units,
        "actualMinutes": row.actual_minutes,
        "status": row.status,
        "cancelReason": row.cancel_reason,
        "startedAt": row.started_at,
        "completedAt": row.completed_at,
        "cancelledAt": row.cancelled_at,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
    })
}

/// `{success: true, session, remainingUnits}`.
pub(super) fn outcome_json(row: &SessionRow, remaining_units: i32) -> Value {
    json!({ "success": true, "session": to_json(row), "remainingUnits": remaining_units })
}
