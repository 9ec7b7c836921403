//! Realtime tickets and the tailer's reads of the sealed audit chain (migration
//! `20261207001001_realtime.sql`).
//!
//! Redeeming a ticket and reading the feed happen outside any tenant: each goes through one
//! narrow SECURITY DEFINER function of `haven_auth` that returns only what its step needs.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db::TenantTx;
use crate::domain::Role;
use crate::ids::{OrganizationId, PatientId, TicketId, UserId};
use crate::policy::realtime::IssueTicket;
use crate::realtime::events::FeedRow;

/// A ticket to store: only the hash of its secret.
#[derive(Debug)]
pub struct NewTicket<'a> {
    /// The ticket's id.
    pub id: TicketId,
    /// SHA-256 of the secret.
    pub hash: &'a [u8; 32],
    /// The user it is bound to.
    pub user: UserId,
    /// Their role when it was issued.
    pub role: Role,
    /// The login session it is bound to.
    pub session: Uuid,
}

/// Stores `ticket` in the transaction's organization, and forgets the organization's tickets
/// that expired over an hour ago. It is redeemable for [`crate::realtime::TICKET_TTL`] by the
/// database's clock; returns until when.
pub async fn insert_ticket(
    tx: &mut TenantTx,
    _may: &IssueTicket,
    ticket: &NewTicket<'_>,
) -> Result<DateTime<Utc>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "DELETE FROM realtime_tickets WHERE organization_id = $1 \
         AND expires_at < pg_catalog.now() - interval '1 hour'",
    )
    .bind(org)
    .execute(tx.conn())
    .await?;
    sqlx::query_scalar(
        "INSERT INTO realtime_tickets \
         (organization_id, id, token_hash, user_id, role, session_id, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, pg_catalog.now() + pg_catalog.make_interval(secs => $7)) \
         RETURNING expires_at",
    )
    .bind(org)
    .bind(ticket.id)
    .bind(ticket.hash.as_slice())
    .bind(ticket.user)
    .bind(ticket.role.as_str())
    .bind(ticket.session)
    .bind(crate::realtime::TICKET_TTL.as_secs_f64())
    .fetch_one(tx.conn())
    .await
}

/// What a redeemed ticket was bound to.
#[derive(Debug, Clone)]
pub struct Redeemed {
    /// The organization.
    pub organization_id: OrganizationId,
    /// The user.
    pub user_id: UserId,
    /// Their role when the ticket was issued.
    pub role: Role,
    /// The login session.
    pub session_id: Uuid,
    /// When the ticket was issued.
    pub issued_at: DateTime<Utc>,
}

/// Redeems the ticket whose secret hashes to `hash`: marks it used, in one statement, and
/// answers what it was bound to; `None` when it is unknown, used or expired. `pool` is the
/// runtime pool with no tenant set.
pub async fn redeem_ticket(
    pool: &PgPool,
    hash: &[u8; 32],
) -> Result<Option<Redeemed>, sqlx::Error> {
    let row: Option<(OrganizationId, UserId, String, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT organization_id, user_id, role, session_id, created_at \
         FROM haven_auth.redeem_realtime_ticket($1)",
    )
    .bind(hash.as_slice())
    .fetch_optional(pool)
    .await?;
    row.map(|(organization_id, user_id, role, session_id, issued_at)| {
        let role = role
            .parse::<Role>()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        Ok(Redeemed {
            organization_id,
            user_id,
            role,
            session_id,
            issued_at,
        })
    })
    .transpose()
}

/// The sealed rows of `organization` after sequence `after` whose action is one of `actions`,
/// in order, at most `limit`: the fields of thin events only.
pub async fn feed(
    pool: &PgPool,
    organization: OrganizationId,
    after: i64,
    actions: &[&str],
    limit: i32,
) -> Result<Vec<FeedRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT sequence, occurred_at, action, entity_type, entity_id, patient_id, owner_id, \
         state, restricted FROM haven_auth.realtime_feed($1, $2, $3, $4)",
    )
    .bind(organization)
    .bind(after)
    .bind(actions)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The last sealed sequence number of each of `organizations` that has a chain.
pub async fn heads(
    pool: &PgPool,
    organizations: &[OrganizationId],
) -> Result<Vec<(OrganizationId, i64)>, sqlx::Error> {
    let ids: Vec<Uuid> = organizations.iter().map(OrganizationId::as_uuid).collect();
    sqlx::query_as(
        "SELECT organization_id, last_sequence FROM haven_auth.realtime_heads($1::uuid[])",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
}

/// The patients on `user`'s care team.
pub async fn care_team_of(
    tx: &mut TenantTx,
    user: UserId,
) -> Result<HashSet<PatientId>, sqlx::Error> {
    let org = tx.organization_id();
    let rows: Vec<PatientId> = sqlx::query_scalar(
        "SELECT patient_id FROM care_team_members WHERE organization_id = $1 AND user_id = $2",
    )
    .bind(org)
    .bind(user)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().collect())
}
