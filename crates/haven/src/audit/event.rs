//! One audit event, and recording it.

use std::net::IpAddr;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{AccessMethod, AuditAction, Outcome};
use crate::db::{AppPool, TenantTx};
use crate::domain::Role;
use crate::ids::{OrganizationId, PatientId, UserId};
use crate::telemetry::metrics;

/// Where a request came from, for the audit trail.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    /// The client's address (see `HAVEN_TRUSTED_PROXIES`).
    pub ip: Option<IpAddr>,
    /// Its `User-Agent`, truncated to 512 characters.
    pub user_agent: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
}

/// Who did something: a user and the role they acted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    user_id: UserId,
    role: Role,
}

impl Actor {
    /// `user_id`, acting as `role`.
    #[must_use]
    pub const fn new(user_id: UserId, role: Role) -> Self {
        Self { user_id, role }
    }
}

/// An event to record. Build with [`AuditEvent::new`] and the `with_*` methods.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    action: AuditAction,
    outcome: Outcome,
    access_method: AccessMethod,
    user_id: Option<UserId>,
    role: Option<Role>,
    entity_type: Option<&'static str>,
    entity_id: Option<String>,
    patient_id: Option<Uuid>,
    details: Value,
    request: RequestMeta,
    occurred_at: DateTime<Utc>,
}

impl AuditEvent {
    /// A successful `action` by nobody in particular, happening now.
    #[must_use]
    pub fn new(action: AuditAction) -> Self {
        Self {
            action,
            outcome: Outcome::Success,
            access_method: AccessMethod::Normal,
            user_id: None,
            role: None,
            entity_type: None,
            entity_id: None,
            patient_id: None,
            details: Value::Object(serde_json::Map::new()),
            request: RequestMeta::default(),
            occurred_at: Utc::now(),
        }
    }

    /// How it ended.
    #[must_use]
    pub fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// How the actor reached the data.
    #[must_use]
    pub fn with_access_method(mut self, method: AccessMethod) -> Self {
        self.access_method = method;
        self
    }

    /// Who did it.
    #[must_use]
    pub fn with_actor(mut self, user_id: UserId, role: Role) -> Self {
        self.user_id = Some(user_id);
        self.role = Some(role);
        self
    }

    /// Who did it (`caller.actor()`).
    #[must_use]
    pub fn by(self, actor: Actor) -> Self {
        self.with_actor(actor.user_id, actor.role)
    }

    /// What it was done to.
    #[must_use]
    pub fn with_entity(mut self, entity_type: &'static str, entity_id: impl ToString) -> Self {
        self.entity_type = Some(entity_type);
        self.entity_id = Some(entity_id.to_string());
        self
    }

    /// The patient concerned (an id, never PHI).
    #[must_use]
    pub fn with_patient(mut self, patient_id: PatientId) -> Self {
        self.patient_id = Some(patient_id.as_uuid());
        self
    }

    /// Structured, non-identifying facts. Never PHI, passwords, tokens or keys.
    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// The request it happened in.
    #[must_use]
    pub fn with_request(mut self, request: &RequestMeta) -> Self {
        self.request = request.clone();
        self
    }

    /// The action.
    #[must_use]
    pub fn action(&self) -> AuditAction {
        self.action
    }
}

/// Records `event` for the transaction's organization, in that transaction.
pub async fn record(tx: &mut TenantTx, event: &AuditEvent) -> Result<(), sqlx::Error> {
    let started = Instant::now();
    let organization_id = tx.organization_id();
    let user_agent = event
        .request
        .user_agent
        .as_deref()
        .map(|ua| ua.chars().take(512).collect::<String>());
    sqlx::query(
        "INSERT INTO audit_outbox (organization_id, id, occurred_at, user_id, role, action, \
             entity_type, entity_id, patient_id, access_method, outcome, ip, user_agent, \
             request_id, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::inet, $13, $14, $15)",
    )
    .bind(organization_id)
    .bind(Uuid::now_v7())
    .bind(event.occurred_at)
    .bind(event.user_id)
    .bind(event.role.map(Role::as_str))
    .bind(event.action.as_str())
    .bind(event.entity_type)
    .bind(event.entity_id.as_deref())
    .bind(event.patient_id)
    .bind(event.access_method.as_str())
    .bind(event.outcome.as_str())
    .bind(event.request.ip.map(|ip| ip.to_string()))
    .bind(user_agent)
    .bind(event.request.request_id.as_deref())
    .bind(&event.details)
    .execute(tx.conn())
    .await?;
    metrics::audited(std::slice::from_ref(event), started.elapsed());
    Ok(())
}

/// Records `event` for `organization` in a transaction of its own: for events with no change to
/// commit alongside (a failed login, a refused request).
pub async fn record_alone(
    pool: &AppPool,
    organization: OrganizationId,
    event: &AuditEvent,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin_tenant(organization, event.user_id).await?;
    record(&mut tx, event).await?;
    tx.commit().await
}

/// Records several events in one statement (a list read audits every patient it returned).
pub async fn record_many(tx: &mut TenantTx, events: &[AuditEvent]) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let organization_id = tx.organization_id();
    let column =
        |f: &dyn Fn(&AuditEvent) -> Option<String>| events.iter().map(f).collect::<Vec<_>>();
    let ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
    let at: Vec<DateTime<Utc>> = events.iter().map(|e| e.occurred_at).collect();
    let users: Vec<Option<UserId>> = events.iter().map(|e| e.user_id).collect();
    let patients: Vec<Option<Uuid>> = events.iter().map(|e| e.patient_id).collect();
    let details: Vec<Value> = events.iter().map(|e| e.details.clone()).collect();
    sqlx::query(
        "INSERT INTO audit_outbox (organization_id, id, occurred_at, user_id, role, action, \
             entity_type, entity_id, patient_id, access_method, outcome, ip, user_agent, \
             request_id, details) \
         SELECT $1, * FROM unnest($2::uuid[], $3::timestamptz[], $4::uuid[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::uuid[], $10::text[], $11::text[], \
             $12::inet[], $13::text[], $14::text[], $15::jsonb[])",
    )
    .bind(organization_id)
    .bind(ids)
    .bind(at)
    .bind(users)
    .bind(column(&|e| e.role.map(|r| r.as_str().to_owned())))
    .bind(column(&|e| Some(e.action.as_str().to_owned())))
    .bind(column(&|e| e.entity_type.map(str::to_owned)))
    .bind(column(&|e| e.entity_id.clone()))
    .bind(patients)
    .bind(column(&|e| Some(e.access_method.as_str().to_owned())))
    .bind(column(&|e| Some(e.outcome.as_str().to_owned())))
    .bind(column(&|e| e.request.ip.map(|ip| ip.to_string())))
    .bind(column(&|e| {
        e.request
            .user_agent
            .as_deref()
            .map(|ua| ua.chars().take(512).collect())
    }))
    .bind(column(&|e| e.request.request_id.clone()))
    .bind(details)
    .execute(tx.conn())
    .await?;
    metrics::audited(events, started.elapsed());
    Ok(())
}
