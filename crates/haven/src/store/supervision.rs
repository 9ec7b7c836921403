//! Clinical supervision: who supervises whom, one active supervisor per supervisee (the
//! `supervision_one_active` exclusion constraint).

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::db::TenantTx;
use crate::ids::{SupervisionId, UserId};
use crate::policy::capability::ManageSupervision;

/// The exclusion constraint that keeps one active supervisor per supervisee.
pub const ONE_ACTIVE: &str = "supervision_one_active";

/// A supervisee's current supervision.
#[derive(Debug, Clone, FromRow)]
pub struct SupervisionRow {
    /// The assignment.
    pub id: SupervisionId,
    /// Who is supervised.
    pub supervisee_id: UserId,
    /// By whom.
    pub supervisor_id: UserId,
    /// Whether the supervisee's signatures need a co-signature.
    pub requires_cosign: bool,
    /// Days the supervisor has to co-sign.
    pub cosign_due_days: i32,
    /// Since when.
    pub since: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, supervisee_id, supervisor_id, requires_cosign, cosign_due_days, lower(active) AS since";

/// `supervisee`'s current supervision, if any.
pub async fn current(
    tx: &mut TenantTx,
    supervisee: UserId,
) -> Result<Option<SupervisionRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM supervision_assignments \
         WHERE organization_id = $1 AND supervisee_id = $2 AND active @> now()"
    )))
    .bind(org)
    .bind(supervisee)
    .fetch_optional(tx.conn())
    .await
}

/// Whether `supervisor` is `supervisee`'s current supervisor.
pub async fn supervises(
    tx: &mut TenantTx,
    supervisor: UserId,
    supervisee: UserId,
) -> Result<bool, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM supervision_assignments \
         WHERE organization_id = $1 AND supervisee_id = $2 AND supervisor_id = $3 \
           AND active @> now())",
    )
    .bind(org)
    .bind(supervisee)
    .bind(supervisor)
    .fetch_one(tx.conn())
    .await
}

/// A new supervision for a supervisee.
#[derive(Debug)]
pub struct NewSupervision {
    /// Who is supervised.
    pub supervisee: UserId,
    /// By whom (`None`: the supervision ends).
    pub supervisor: Option<UserId>,
    /// Whether signatures need a co-signature.
    pub requires_cosign: bool,
    /// Days to co-sign.
    pub cosign_due_days: i32,
    /// The ADMIN assigning it.
    pub assigned_by: UserId,
}

/// Ends `new.supervisee`'s current supervision (if any) and starts the new one, in one
/// statement. A concurrent assignment for the same supervisee fails on [`ONE_ACTIVE`].
pub async fn replace(
    tx: &mut TenantTx,
    _may: &ManageSupervision,
    new: &NewSupervision,
) -> Result<Option<SupervisionRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH ended AS ( \
             UPDATE supervision_assignments SET active = tstzrange(lower(active), now(), '[)') \
             WHERE organization_id = $1 AND supervisee_id = $2 AND upper_inf(active) \
               AND lower(active) < now() \
             RETURNING id) \
         INSERT INTO supervision_assignments (organization_id, id, supervisee_id, supervisor_id, \
             requires_cosign, cosign_due_days, active, assigned_by) \
         SELECT $1, $3, $2, $4, $5, $6, tstzrange(now(), NULL, '[)'), $7 \
         WHERE $4::uuid IS NOT NULL AND (SELECT count(*) FROM ended) >= 0 \
         RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(new.supervisee)
    .bind(SupervisionId::new())
    .bind(new.supervisor)
    .bind(new.requires_cosign)
    .bind(new.cosign_due_days)
    .bind(new.assigned_by)
    .fetch_optional(tx.conn())
    .await
}
