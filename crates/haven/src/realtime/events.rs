//! The one table from audited actions to realtime events, and the thin event itself.
//!
//! A feature that wants its actions pushed adds rows to [`MAPPINGS`]; nothing else changes.
//! Events carry ids, types and an instant, never PHI: clients fetch details over REST, where
//! the read is audited.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::audit::AuditAction;
use crate::ids::{PatientId, UserId};

/// What a client subscribes to, and what a role may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `appointment.*`.
    Appointments,
    /// `session.*`.
    Sessions,
    /// `waitlist.offer*`.
    Waitlist,
    /// `note.*`.
    Notes,
    /// `authorization.*`.
    Authorizations,
    /// `charge.*` (no charge events exist yet).
    Charges,
    /// `security.*`.
    Security,
    /// `btg.*`.
    Btg,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 8] = [
        Topic::Appointments,
        Topic::Sessions,
        Topic::Waitlist,
        Topic::Notes,
        Topic::Authorizations,
        Topic::Charges,
        Topic::Security,
        Topic::Btg,
    ];

    /// The name clients use in `subscribe`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Topic::Appointments => "appointments",
            Topic::Sessions => "sessions",
            Topic::Waitlist => "waitlist",
            Topic::Notes => "notes",
            Topic::Authorizations => "authorizations",
            Topic::Charges => "charges",
            Topic::Security => "security",
            Topic::Btg => "btg",
        }
    }

    /// The topic named `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// How an action becomes an event name: fixed, or chosen by the row's `state` (a note's status
/// after signing, an authorization's available units).
#[derive(Debug, Clone, Copy)]
pub enum Name {
    /// Always this name.
    Fixed(&'static str),
    /// `NOTE_SIGN`: `note.cosignRequested` when the note now waits for a co-signature.
    NoteSigned,
    /// `AUTHORIZATION_LOW_UNITS`: `authorization.exhausted` at zero available units.
    AuthorizationUnits,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    /// The audited action.
    pub action: AuditAction,
    /// The event it becomes.
    pub name: Name,
    /// Its topic.
    pub topic: Topic,
}

const fn row(action: AuditAction, name: &'static str, topic: Topic) -> Mapping {
    Mapping {
        action,
        name: Name::Fixed(name),
        topic,
    }
}

/// Every audited action that is pushed, and as what (SPEC §8).
pub const MAPPINGS: &[Mapping] = &[
    row(
        AuditAction::AppointmentBook,
        "appointment.booked",
        Topic::Appointments,
    ),
    row(
        AuditAction::AppointmentHold,
        "appointment.held",
        Topic::Appointments,
    ),
    row(
        AuditAction::AppointmentConfirm,
        "appointment.confirmed",
        Topic::Appointments,
    ),
    row(
        AuditAction::AppointmentReschedule,
        "appointment.rescheduled",
        Topic::Appointments,
    ),
    row(
        AuditAction::AppointmentCheckIn,
        "appointment.checkedIn",
        Topic::Appointments,
    ),
    row(
        AuditAction::AppointmentCancel,
        "appointment.cancelled",
        Topic::Appointments,
    ),
    row(
        AuditAction::AppointmentNoShow,
        "appointment.noShow",
        Topic::Appointments,
    ),
    row(
        AuditAction::AppointmentHoldExpired,
        "appointment.holdExpired",
        Topic::Appointments,
    ),
    row(
        AuditAction::SessionReserve,
        "session.reserved",
        Topic::Sessions,
    ),
    row(
        AuditAction::SessionStart,
        "session.started",
        Topic::Sessions,
    ),
    row(
        AuditAction::SessionComplete,
        "session.completed",
        Topic::Sessions,
    ),
    row(
        AuditAction::SessionCancel,
        "session.cancelled",
        Topic::Sessions,
    ),
    row(
        AuditAction::StaleReservationReleased,
        "session.released",
        Topic::Sessions,
    ),
    row(
        AuditAction::WaitlistOfferCreate,
        "waitlist.offerCreated",
        Topic::Waitlist,
    ),
    row(
        AuditAction::WaitlistOfferAccept,
        "waitlist.offerAccepted",
        Topic::Waitlist,
    ),
    row(
        AuditAction::WaitlistOfferDecline,
        "waitlist.offerDeclined",
        Topic::Waitlist,
    ),
    row(
        AuditAction::WaitlistOfferExpired,
        "waitlist.offerExpired",
        Topic::Waitlist,
    ),
    Mapping {
        action: AuditAction::NoteSign,
        name: Name::NoteSigned,
        topic: Topic::Notes,
    },
    row(AuditAction::NoteCosign, "note.signed", Topic::Notes),
    row(AuditAction::NoteReturn, "note.returned", Topic::Notes),
    row(AuditAction::NoteOverdue, "note.overdue", Topic::Notes),
    row(AuditAction::ChargeReady, "charge.ready", Topic::Charges),
    row(AuditAction::ChargeHold, "charge.held", Topic::Charges),
    Mapping {
        action: AuditAction::AuthorizationLowUnits,
        name: Name::AuthorizationUnits,
        topic: Topic::Authorizations,
    },
    row(
        AuditAction::SecurityIncidentOpened,
        "security.incidentOpened",
        Topic::Security,
    ),
    row(AuditAction::BtgGrantAccess, "btg.granted", Topic::Btg),
    row(AuditAction::BtgUseAccess, "btg.used", Topic::Btg),
    row(AuditAction::BtgRevokeAccess, "btg.revoked", Topic::Btg),
    row(AuditAction::BtgExpired, "btg.expired", Topic::Btg),
    row(AuditAction::BtgReview, "btg.reviewed", Topic::Btg),
];

/// Sealed actions that change what a clinician's socket may see: read by the tailer, never sent.
pub const CARE_TEAM_ACTIONS: [AuditAction; 2] =
    [AuditAction::CareTeamAdd, AuditAction::CareTeamRemove];

/// The stored names of every action the feed asks the database for.
#[must_use]
pub fn mapped_actions() -> Vec<&'static str> {
    MAPPINGS
        .iter()
        .map(|m| m.action)
        .chain(CARE_TEAM_ACTIONS)
        .map(AuditAction::as_str)
        .collect()
}

/// What one sealed row means to the sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// An event, for the sockets entitled to it.
    Event(Event),
    /// `user` joined (`member`) or left `patient`'s care team.
    CareTeam {
        /// The clinician.
        user: UserId,
        /// The patient.
        patient: PatientId,
        /// Whether they are on it now.
        member: bool,
    },
}

impl Signal {
    /// What `row` means, if anything.
    #[must_use]
    pub fn from_row(row: FeedRow) -> Option<Signal> {
        let member = match row.action.as_str() {
            a if a == AuditAction::CareTeamAdd.as_str() => true,
            a if a == AuditAction::CareTeamRemove.as_str() => false,
            _ => return Event::from_row(row).map(Signal::Event),
        };
        Some(Signal::CareTeam {
            user: row.entity_id.as_deref()?.parse().ok()?,
            patient: row.patient_id?,
            member,
        })
    }
}

/// The mapping of `action`, if it is pushed.
#[must_use]
pub fn mapping_of(action: &str) -> Option<&'static Mapping> {
    MAPPINGS.iter().find(|m| m.action.as_str() == action)
}

/// A sealed audit row as the feed returns it: the fields of a thin event, nothing else (also
/// what the leader publishes through Redis).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct FeedRow {
    /// Its sequence number in the organization's chain.
    pub sequence: i64,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The audited action.
    pub action: String,
    /// The kind of entity.
    pub entity_type: Option<String>,
    /// The entity.
    pub entity_id: Option<String>,
    /// The patient concerned.
    pub patient_id: Option<PatientId>,
    /// Whose calendar or note it is (an appointment's clinician, a note's author).
    pub owner_id: Option<UserId>,
    /// A note's status after the action, or an authorization's available units.
    pub state: Option<String>,
    /// A psychotherapy note's: its author alone is told.
    pub restricted: bool,
}

/// A thin event, ready for every socket entitled to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The sequence number in the organization's chain: sockets receive events in this order,
    /// and resume from it (`since`).
    pub seq: i64,
    /// `appointment.cancelled` and the like.
    pub name: &'static str,
    /// Its topic.
    pub topic: Topic,
    /// The kind of entity.
    pub entity_type: Option<String>,
    /// The entity.
    pub entity_id: Option<String>,
    /// The patient concerned.
    pub patient_id: Option<PatientId>,
    /// Whose calendar or note it is.
    pub owner_id: Option<UserId>,
    /// Only its owner may be told.
    pub restricted: bool,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
}

impl Event {
    /// The event of `row`, when its action is pushed.
    #[must_use]
    pub fn from_row(row: FeedRow) -> Option<Event> {
        let mapping = mapping_of(&row.action)?;
        let name = match mapping.name {
            Name::Fixed(name) => name,
            Name::NoteSigned if row.state.as_deref() == Some("PENDING_COSIGN") => {
                "note.cosignRequested"
            }
            Name::NoteSigned => "note.signed",
            Name::AuthorizationUnits
                if row
                    .state
                    .as_deref()
                    .and_then(|s| s.parse::<f64>().ok())
                    .is_some_and(|units| units <= 0.0) =>
            {
                "authorization.exhausted"
            }
            Name::AuthorizationUnits => "authorization.lowUnits",
        };
        Some(Event {
            seq: row.sequence,
            name,
            topic: mapping.topic,
            entity_type: row.entity_type,
            entity_id: row.entity_id,
            patient_id: row.patient_id,
            owner_id: row.owner_id,
            restricted: row.restricted,
            occurred_at: row.occurred_at,
        })
    }

    /// The frame sent to a socket.
    #[must_use]
    pub fn to_frame(&self) -> String {
        json!({
            "type": "event",
            "seq": self.seq,
            "event": self.name,
            "entityType": self.entity_type,
            "entityId": self.entity_id,
            "patientId": self.patient_id,
            "occurredAt": self.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_is_mapped_once() {
        for (i, m) in MAPPINGS.iter().enumerate() {
            assert!(
                MAPPINGS[i + 1..].iter().all(|o| o.action != m.action),
                "{} twice",
                m.action
            );
        }
    }

    fn row(action: &str, state: Option<&str>) -> FeedRow {
        FeedRow {
            sequence: 7,
            occurred_at: Utc::now(),
            action: action.into(),
            entity_type: Some("x".into()),
            entity_id: Some("y".into()),
            patient_id: None,
            owner_id: None,
            state: state.map(str::to_owned),
            restricted: false,
        }
    }

    #[test]
    fn names_follow_the_state_where_the_table_says_so() {
        let name = |action, state| Event::from_row(row(action, state)).map(|e| e.name);
        assert_eq!(name("NOTE_SIGN", Some("SIGNED")), Some("note.signed"));
        assert_eq!(
            name("NOTE_SIGN", Some("PENDING_COSIGN")),
            Some("note.cosignRequested")
        );
        assert_eq!(
            name("AUTHORIZATION_LOW_UNITS", Some("3")),
            Some("authorization.lowUnits")
        );
        assert_eq!(
            name("AUTHORIZATION_LOW_UNITS", Some("0")),
            Some("authorization.exhausted")
        );
        assert_eq!(
            name("APPOINTMENT_CANCEL", None),
            Some("appointment.cancelled")
        );
        assert_eq!(name("PATIENT_READ", None), None);
    }
}
