//! The wire types of appointments.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::pagination::Pagination;
use crate::ids::{AppointmentId, AuthorizationId, PatientId, SeriesId, TherapySessionId, UserId};
use crate::store::appointments::AppointmentRow;

/// An appointment's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(
    as = AppointmentStatus,
    description = "HELD (until holdExpiresAt) → BOOKED → CHECKED_IN → FULFILLED (its session \
        completed); CANCELLED from HELD, BOOKED or CHECKED_IN; NO_SHOW from BOOKED or CHECKED_IN"
)]
pub enum Status {
    /// Held until `holdExpiresAt`.
    Held,
    /// Booked.
    Booked,
    /// The patient arrived.
    CheckedIn,
    /// Its session was completed.
    Fulfilled,
    /// Cancelled.
    Cancelled,
    /// The patient did not come.
    NoShow,
}

impl Status {
    /// Every status.
    pub const ALL: [Self; 6] = [
        Self::Held,
        Self::Booked,
        Self::CheckedIn,
        Self::Fulfilled,
        Self::Cancelled,
        Self::NoShow,
    ];

    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Held => "HELD",
            Self::Booked => "BOOKED",
            Self::CheckedIn => "CHECKED_IN",
            Self::Fulfilled => "FULFILLED",
            Self::Cancelled => "CANCELLED",
            Self::NoShow => "NO_SHOW",
        }
    }

    /// Parses a stored or requested name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// An appointment as the API shows it (ids and times only: no patient demographics).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Appointment {
    /// The appointment.
    id: AppointmentId,
    /// Whose.
    patient_id: PatientId,
    /// With whom.
    clinician_id: UserId,
    /// The service.
    service_code: String,
    /// Start (RFC 3339, UTC).
    start: DateTime<Utc>,
    /// End, exclusive.
    end: DateTime<Utc>,
    /// Its status.
    status: Status,
    /// The §5 session holding its units, when booked with an authorization.
    session_id: Option<TherapySessionId>,
    /// The authorization the units come from.
    authorization_id: Option<AuthorizationId>,
    /// Until when a HELD appointment holds.
    hold_expires_at: Option<DateTime<Utc>>,
    /// The appointment this one is explicitly concurrent with.
    concurrent_with_appointment_id: Option<AppointmentId>,
    /// Its series.
    series_id: Option<SeriesId>,
    /// Whether it was booked outside the clinician's availability.
    availability_overridden: bool,
    /// Bumped by every change; a reschedule names the version it read.
    version: i32,
    /// Created.
    created_at: DateTime<Utc>,
    /// Last changed.
    updated_at: DateTime<Utc>,
}

impl Appointment {
    /// The wire form of `row` (an unknown stored status is corruption: a 500).
    pub(crate) fn new(row: &AppointmentRow) -> Result<Self, anyhow::Error> {
        let status = Status::parse(&row.status)
            .ok_or_else(|| anyhow::anyhow!("appointment {} has an unknown status", row.id))?;
        Ok(Self {
            id: row.id,
            patient_id: row.patient_id,
            clinician_id: row.clinician_id,
            service_code: row.service_code.clone(),
            start: row.start_at,
            end: row.end_at,
            status,
            session_id: row.session_id,
            authorization_id: row.authorization_id,
            hold_expires_at: row.hold_expires_at,
            concurrent_with_appointment_id: row.concurrent_with_id,
            series_id: row.series_id,
            availability_overridden: row.availability_overridden,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// `{"success": true, "appointment": {...}, "remainingUnits": n}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentOutcome {
    /// Always `true`.
    success: bool,
    /// The appointment.
    appointment: Appointment,
    /// Units left on its authorization (`null` without one).
    remaining_units: Option<i32>,
}

impl AppointmentOutcome {
    pub(crate) fn new(row: &AppointmentRow, remaining: Option<i32>) -> Result<Self, anyhow::Error> {
        Ok(Self {
            success: true,
            appointment: Appointment::new(row)?,
            remaining_units: remaining,
        })
    }
}

/// `{"appointment": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentResponse {
    /// The appointment.
    pub(crate) appointment: Appointment,
}

/// `{"appointments": [...], "pagination": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentList {
    /// This page.
    pub(crate) appointments: Vec<Appointment>,
    /// Where it is.
    pub(crate) pagination: Pagination,
}
