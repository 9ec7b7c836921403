//! The wire types of the waitlist.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::appointments::codec::Status as AppointmentStatus;
use crate::api::pagination::Pagination;
use crate::ids::{
    AppointmentId, AuthorizationId, PatientId, UserId, WaitlistEntryId, WaitlistOfferId,
};
use crate::scheduling::wall_time::day_name;
use crate::store::waitlist::EntryRow;
use crate::store::waitlist_offers::OfferRow;

/// A preferred local time window, in the practice's time zone.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Window {
    /// From (`HH:MM`, local).
    #[schema(example = "15:00")]
    pub(crate) start: String,
    /// To (`HH:MM`, local), after `start`.
    #[schema(example = "18:00")]
    pub(crate) end: String,
}

/// URGENT first, then ROUTINE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Priority {
    /// Offered first.
    Urgent,
    /// The default.
    Routine,
}

impl Priority {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Urgent => "URGENT",
            Self::Routine => "ROUTINE",
        }
    }
}

/// An entry's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(as = WaitlistEntryStatus)]
pub enum EntryStatus {
    /// Waiting (maybe with a pending offer).
    Active,
    /// An offer was accepted.
    Booked,
    /// Taken off the list.
    Removed,
    /// 90 days passed without renewal.
    Expired,
}

impl EntryStatus {
    /// Every status.
    pub const ALL: [Self; 4] = [Self::Active, Self::Booked, Self::Removed, Self::Expired];

    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Booked => "BOOKED",
            Self::Removed => "REMOVED",
            Self::Expired => "EXPIRED",
        }
    }

    /// Parses a stored or requested name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A waitlist entry as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitlistEntry {
    /// The entry.
    id: WaitlistEntryId,
    /// Whose.
    patient_id: PatientId,
    /// For which service.
    service_code: String,
    /// The authorization an offer reserves units of.
    authorization_id: Option<AuthorizationId>,
    /// Preferred clinicians (empty: any).
    clinician_ids: Vec<UserId>,
    /// Preferred days (`MO` … `SU`; empty: any).
    preferred_days: Vec<String>,
    /// Preferred local time windows (empty: any time).
    preferred_windows: Vec<Window>,
    /// Not before this local date.
    earliest_date: Option<NaiveDate>,
    /// Not after this local date.
    latest_date: Option<NaiveDate>,
    /// URGENT or ROUTINE.
    priority: String,
    /// ACTIVE (an ACTIVE entry past `expiresAt` shows EXPIRED), BOOKED, REMOVED, EXPIRED.
    status: EntryStatus,
    /// Free text (`***` for a platform operator).
    notes: Option<String>,
    /// Waiting since (the ranking's "longest waiting").
    waiting_since: DateTime<Utc>,
    /// When it expires unless renewed (`PATCH` with `renew: true`).
    expires_at: DateTime<Utc>,
    /// Bumped by every change.
    version: i32,
    /// Created.
    created_at: DateTime<Utc>,
    /// Last changed.
    updated_at: DateTime<Utc>,
}

impl WaitlistEntry {
    /// The wire form of `row`, with its decrypted `notes`.
    pub(crate) fn new(row: &EntryRow, notes: Option<String>) -> Result<Self, anyhow::Error> {
        let mut status = EntryStatus::parse(&row.status)
            .ok_or_else(|| anyhow::anyhow!("waitlist entry {} has an unknown status", row.id))?;
        if status == EntryStatus::Active && row.expires_at <= Utc::now() {
            status = EntryStatus::Expired;
        }
        Ok(Self {
            id: row.id,
            patient_id: row.patient_id,
            service_code: row.service_code.clone(),
            authorization_id: row.authorization_id,
            clinician_ids: row.clinician_ids.clone(),
            preferred_days: row
                .preferred_days
                .iter()
                .map(|d| day_name(*d).to_owned())
                .collect(),
            preferred_windows: row
                .window_starts
                .iter()
                .zip(&row.window_ends)
                .map(|(s, e)| Window {
                    start: s.format("%H:%M").to_string(),
                    end: e.format("%H:%M").to_string(),
                })
                .collect(),
            earliest_date: row.earliest_date,
            latest_date: row.latest_date,
            priority: row.priority.clone(),
            status,
            notes,
            waiting_since: row.waiting_since,
            expires_at: row.expires_at,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// `{"waitlistEntry": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitlistEntryResponse {
    /// The entry.
    pub(crate) waitlist_entry: WaitlistEntry,
}

/// `{"waitlistEntries": [...], "pagination": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitlistEntryList {
    /// This page.
    pub(crate) waitlist_entries: Vec<WaitlistEntry>,
    /// Where it is.
    pub(crate) pagination: Pagination,
}

/// `{"waitlistEntries": [...]}`: ranked entries for a freed slot, best first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RankedEntries {
    /// URGENT first, then longest waiting.
    pub(crate) waitlist_entries: Vec<WaitlistEntry>,
}

/// An offer's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(as = WaitlistOfferStatus)]
pub enum OfferStatus {
    /// Holding the slot until `expiresAt`.
    Pending,
    /// The appointment is BOOKED.
    Accepted,
    /// The hold was released.
    Declined,
    /// Not accepted in time; the hold was released.
    Expired,
}

impl OfferStatus {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "PENDING" => Some(Self::Pending),
            "ACCEPTED" => Some(Self::Accepted),
            "DECLINED" => Some(Self::Declined),
            "EXPIRED" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// The appointment behind an offer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfferAppointment {
    /// The appointment.
    id: AppointmentId,
    /// HELD while the offer is pending, BOOKED once accepted, CANCELLED after a decline or
    /// expiry.
    status: AppointmentStatus,
}

/// An offer as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    /// The offer.
    id: WaitlistOfferId,
    /// The entry.
    waitlist_entry_id: WaitlistEntryId,
    /// The entry's patient.
    patient_id: PatientId,
    /// The slot's clinician.
    clinician_id: UserId,
    /// The slot's start.
    start: DateTime<Utc>,
    /// The slot's end.
    end: DateTime<Utc>,
    /// Its status.
    status: OfferStatus,
    /// Until when it may be accepted.
    expires_at: DateTime<Utc>,
    /// Made by the practice's `waitlistAutoOffer`.
    automatic: bool,
    /// The appointment holding the slot.
    appointment: OfferAppointment,
}

impl Offer {
    /// The wire form of `row`, whose appointment is in `appointment_status`.
    pub(crate) fn new(row: &OfferRow, appointment_status: &str) -> Result<Self, anyhow::Error> {
        let status = OfferStatus::parse(&row.status)
            .ok_or_else(|| anyhow::anyhow!("offer {} has an unknown status", row.id))?;
        let appointment = AppointmentStatus::parse(appointment_status).ok_or_else(|| {
            anyhow::anyhow!("offer {}'s appointment has an unknown status", row.id)
        })?;
        Ok(Self {
            id: row.id,
            waitlist_entry_id: row.entry_id,
            patient_id: row.patient_id,
            clinician_id: row.clinician_id,
            start: row.start_at,
            end: row.end_at,
            status,
            expires_at: row.expires_at,
            automatic: row.automatic,
            appointment: OfferAppointment {
                id: row.appointment_id,
                status: appointment,
            },
        })
    }
}

/// `{"offer": {...}, "remainingUnits": n}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfferOutcome {
    /// The offer.
    pub(crate) offer: Offer,
    /// Units left on the entry's authorization (`null` without one).
    pub(crate) remaining_units: Option<i32>,
}

/// A free slot that meets an entry's preferences.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchingSlot {
    /// Whose calendar.
    pub(crate) clinician_id: UserId,
    /// Start.
    pub(crate) start: DateTime<Utc>,
    /// End, exclusive.
    pub(crate) end: DateTime<Utc>,
}

/// `{"slots": [...], "truncated": bool}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchingSlots {
    /// Earliest first.
    pub(crate) slots: Vec<MatchingSlot>,
    /// Whether there were more than `limit`.
    pub(crate) truncated: bool,
}
