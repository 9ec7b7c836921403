//! A stored session as the API's JSON, and the response bodies that carry it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::ids::{AuthorizationId, PatientId, TherapySessionId};

use crate::api::pagination::Pagination;
use crate::http::error::AppError;
use crate::ids::UserId;
use crate::store::sessions_units::SessionRow;
use crate::units::SessionStatus;

/// A therapy session and the insurance units it holds (while SCHEDULED or IN_PROGRESS) or used
/// (once COMPLETED). Every field is always present; those without a value are `null`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TherapySession {
    /// The session's id.
    id: TherapySessionId,
    /// The insurance authorization whose units the session uses.
    authorization_id: AuthorizationId,
    /// The patient (the authorization's patient).
    patient_id: PatientId,
    /// The treating clinician, or `null` when none was named.
    #[schema(required = true)]
    clinician_id: Option<UserId>,
    /// When the session is scheduled to start.
    start_time: DateTime<Utc>,
    /// The units reserved for the session: held from the authorization while it is open.
    expected_units: i32,
    /// The authorization's minutes per unit, as of the reservation.
    unit_minutes: i32,
    /// The units consumed; set once COMPLETED, else `null`.
    #[schema(required = true)]
    actual_units: Option<i32>,
    /// The minutes delivered, when it was completed by minutes; else `null`.
    #[schema(required = true)]
    actual_minutes: Option<i32>,
    /// Where the session stands.
    status: SessionStatus,
    /// Why it was cancelled; set once CANCELLED, else `null`.
    #[schema(required = true)]
    cancel_reason: Option<String>,
    /// When it was started, or `null`.
    #[schema(required = true)]
    started_at: Option<DateTime<Utc>>,
    /// When it was completed, or `null`.
    #[schema(required = true)]
    completed_at: Option<DateTime<Utc>>,
    /// When it was cancelled (by a user or the stale-reservation cleanup), or `null`.
    #[schema(required = true)]
    cancelled_at: Option<DateTime<Utc>>,
    /// When it was reserved.
    created_at: DateTime<Utc>,
    /// When it last changed.
    updated_at: DateTime<Utc>,
}

impl TryFrom<&SessionRow> for TherapySession {
    type Error = AppError;

    /// The session as the API shows it; a status the database should never hold is a bug (500),
    /// not something to pass on undocumented.
    fn try_from(row: &SessionRow) -> Result<Self, AppError> {
        let status = SessionStatus::parse(&row.status).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "session {} has an unknown status {:?}",
                row.id,
                row.status
            ))
        })?;
        Ok(Self {
            id: row.id,
            authorization_id: row.authorization_id,
            patient_id: row.patient_id,
            clinician_id: row.clinician_id,
            start_time: row.start_time,
            expected_units: row.reserved_units,
            unit_minutes: row.unit_minutes,
            actual_units: row.actual_units,
            actual_minutes: row.actual_minutes,
            status,
            cancel_reason: row.cancel_reason.clone(),
            started_at: row.started_at,
            completed_at: row.completed_at,
            cancelled_at: row.cancelled_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// `{session}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TherapySessionResponse {
    /// The session.
    session: TherapySession,
}

impl TherapySessionResponse {
    /// The body for `row`.
    pub(super) fn new(row: &SessionRow) -> Result<Self, AppError> {
        Ok(Self {
            session: row.try_into()?,
        })
    }
}

/// `{sessions, pagination}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TherapySessionList {
    /// The page's sessions, by start time (earliest first).
    sessions: Vec<TherapySession>,
    /// Where the page is in the whole list.
    pagination: Pagination,
}

impl TherapySessionList {
    /// The body for one page of `rows`.
    pub(super) fn new(rows: &[SessionRow], pagination: Pagination) -> Result<Self, AppError> {
        Ok(Self {
            sessions: rows
                .iter()
                .map(TherapySession::try_from)
                .collect::<Result<_, _>>()?,
            pagination,
        })
    }
}

/// `{success: true, session, remainingUnits}`: a reservation or transition that took effect.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TherapySessionOutcome {
    /// Always `true`.
    success: bool,
    /// The session after the change.
    session: TherapySession,
    /// The authorization's units still available after the change.
    remaining_units: i32,
}

impl TherapySessionOutcome {
    /// The body for `row`, leaving `remaining_units` on its authorization.
    pub(super) fn new(row: &SessionRow, remaining_units: i32) -> Result<Self, AppError> {
        Ok(Self {
            success: true,
            session: row.try_into()?,
            remaining_units,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_serialize_to_their_stored_names() {
        for status in SessionStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).expect("serializes"),
                serde_json::Value::from(status.as_str())
            );
        }
    }

    #[test]
    fn a_session_keeps_its_wire_shape() {
        let at = DateTime::parse_from_rfc3339("2026-01-31T09:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        let row = SessionRow {
            id: TherapySessionId::from_uuid(uuid::Uuid::nil()),
            authorization_id: AuthorizationId::from_uuid(uuid::Uuid::nil()),
            patient_id: PatientId::from_uuid(uuid::Uuid::nil()),
            clinician_id: None,
            start_time: at,
            reserved_units: 4,
            unit_minutes: 15,
            actual_units: None,
            actual_minutes: None,
            status: "IN_PROGRESS".into(),
            cancel_reason: None,
            started_at: Some(at),
            completed_at: None,
            cancelled_at: None,
            created_at: at,
            updated_at: at,
        };
        let body = serde_json::to_value(TherapySessionOutcome::new(&row, 6).expect("known"))
            .expect("serializes");
        assert_eq!(body["success"], true);
        assert_eq!(body["remainingUnits"], 6);
        let session = body["session"].as_object().expect("object");
        assert_eq!(session.len(), 16);
        assert_eq!(session["expectedUnits"], 4);
        assert_eq!(session["status"], "IN_PROGRESS");
        assert!(session["clinicianId"].is_null());
        assert!(session["cancelledAt"].is_null());
        assert_eq!(session["startedAt"], "2026-01-31T09:00:00Z");

        let unknown = SessionRow {
            status: "LOST".into(),
            ..row
        };
        assert!(TherapySession::try_from(&unknown).is_err());
    }
}
