//! Who may open a realtime socket, and which events each role receives (SPEC §8 "Realtime
//! notifications").
//!
//! | role | topics | which events |
//! |---|---|---|
//! | ADMIN | all | every event of the practice |
//! | CLINICIAN | appointments, sessions, waitlist, notes, authorizations | of their care-team patients, and their own calendar and notes |
//! | SCHEDULER | appointments, waitlist | all |
//! | BILLING | charges, authorizations | all |
//! | COMPLIANCE | security, btg | all |
//! | SUPER_ADMIN (platform) | security, btg | all of the platform organization |
//!
//! Whatever the role, an event of a psychotherapy note reaches its author alone. A platform
//! operator acting inside a practice gets no socket: events name patients.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};

use super::Denial;
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::ids::{PatientId, UserId};
use crate::realtime::events::{Event, Topic};

/// Proof that the caller may ask for a realtime ticket.
#[derive(Debug, Clone, Copy)]
pub struct IssueTicket {
    _proof: (),
}

/// Whether the caller may ask for a ticket (`operation`).
pub fn issue_ticket(caller: &Caller, operation: &'static str) -> Result<IssueTicket, Denial> {
    if caller.is_operator_in_practice() {
        return Err(Denial::forbidden(caller, operation)
            .with_message("A platform operator receives no practice's events"));
    }
    Ok(IssueTicket { _proof: () })
}

/// The topics `role` may receive.
#[must_use]
pub fn topics_of(role: Role) -> &'static [Topic] {
    match role {
        Role::Admin => &Topic::ALL,
        Role::Clinician => &[
            Topic::Appointments,
            Topic::Sessions,
            Topic::Waitlist,
            Topic::Notes,
            Topic::Authorizations,
        ],
        Role::Scheduler => &[Topic::Appointments, Topic::Waitlist],
        Role::Billing => &[Topic::Charges, Topic::Authorizations],
        Role::Compliance | Role::SuperAdmin => &[Topic::Security, Topic::Btg],
    }
}

/// What one socket may receive: its user's role's topics (narrowed by `subscribe`) and, for a
/// clinician, only events of their care-team patients or their own calendar. The care team is
/// shared with the hub, which keeps it current as care-team changes are sealed.
#[derive(Debug)]
pub struct Audience {
    user: UserId,
    role: Role,
    subscribed: RwLock<HashSet<Topic>>,
    care_team: Option<Arc<RwLock<HashSet<PatientId>>>>,
}

impl Audience {
    /// The audience of `user` in `role`; `care_team` is the clinician's patients (ignored for
    /// other roles).
    #[must_use]
    pub fn new(user: UserId, role: Role, care_team: HashSet<PatientId>) -> Self {
        Self {
            user,
            role,
            subscribed: RwLock::new(topics_of(role).iter().copied().collect()),
            care_team: (role == Role::Clinician).then(|| Arc::new(RwLock::new(care_team))),
        }
    }

    /// The user.
    #[must_use]
    pub fn user(&self) -> UserId {
        self.user
    }

    /// The role.
    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the role may receive `topic` at all.
    #[must_use]
    pub fn may(&self, topic: Topic) -> bool {
        topics_of(self.role).contains(&topic)
    }

    /// Narrows the socket to `topics` (each one the role may receive).
    pub fn subscribe(&self, topics: &[Topic]) {
        let mut set = self
            .subscribed
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *set = topics.iter().copied().filter(|t| self.may(*t)).collect();
    }

    /// A clinician's care team gained or lost `patient`.
    pub fn care_team_changed(&self, patient: PatientId, member: bool) {
        if let Some(team) = &self.care_team {
            let mut team = team.write().unwrap_or_else(PoisonError::into_inner);
            if member {
                team.insert(patient);
            } else {
                team.remove(&patient);
            }
        }
    }

    /// Whether this socket receives `event`.
    #[must_use]
    pub fn sees(&self, event: &Event) -> bool {
        if event.restricted && event.owner_id != Some(self.user) {
            return false;
        }
        let subscribed = self
            .subscribed
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&event.topic);
        if !subscribed {
            return false;
        }
        let Some(team) = &self.care_team else {
            return true;
        };
        event.owner_id == Some(self.user)
            || event.patient_id.is_some_and(|patient| {
                team.read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .contains(&patient)
            })
    }
}
