//! Typed identifiers. Each kind of id is its own type, so an organization id can never be passed
//! where a user id is expected; all are UUIDs (v7 when Haven mints them, so they sort by time).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Declares an id type: a UUID newtype that serializes, binds and documents as a plain UUID.
/// Every entity's id is one (see below), so two kinds of id cannot be swapped silently.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = Uuid)]
        #[sqlx(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered (v7) id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// An organization (a practice, or the platform itself).
    OrganizationId
);
id_type!(
    /// A user account of some organization.
    UserId
);
id_type!(
    /// A patient of a practice.
    PatientId
);
id_type!(
    /// An insurance authorization: the units a payer allows for one patient and service.
    AuthorizationId
);
id_type!(
    /// A therapy session, which holds units of one authorization.
    TherapySessionId
);
id_type!(
    /// A break-the-glass (emergency access) grant.
    GrantId
);
id_type!(
    /// An appointment of a patient with a clinician.
    AppointmentId
);
id_type!(
    /// A weekly series of appointments.
    SeriesId
);
id_type!(
    /// A clinician's time-off block.
    BlockId
);
id_type!(
    /// A patient's place on the waitlist for one service.
    WaitlistEntryId
);
id_type!(
    /// A freed slot offered to a waitlist entry (a HELD appointment).
    WaitlistOfferId
);
id_type!(
    /// A clinical note.
    NoteId
);
id_type!(
    /// An addendum to a signed note.
    AddendumId
);
id_type!(
    /// A signature (or co-signature, or return) of a note version.
    SignatureId
);
id_type!(
    /// A supervision assignment (supervisor of a supervisee).
    SupervisionId
);

impl OrganizationId {
    /// The reserved platform organization: it holds the platform operators (SUPER_ADMIN) and the
    /// platform audit chain. Created by the first migration.
    pub const PLATFORM: Self = Self(Uuid::nil());

    /// Whether this is the platform organization rather than a practice.
    #[must_use]
    pub fn is_platform(&self) -> bool {
        *self == Self::PLATFORM
    }
}
id_type!(
    /// A security incident opened by the breach detector.
    IncidentId
);
id_type!(
    /// A single-use realtime (WebSocket) ticket.
    TicketId
);
id_type!(
    /// A charge: the billable line of one completed therapy session.
    ChargeId
);
id_type!(
    /// An export of charges (a CSV or 837P-shaped JSON file).
    ChargeExportId
);
