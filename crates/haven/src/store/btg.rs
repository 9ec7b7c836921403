//! Break-the-glass grants, as stored. "Active" is always decided by PostgreSQL's `now()` (the
//! transaction's start), never by a clock in this process.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::db::TenantTx;
use crate::ids::{GrantId, OrganizationId, PatientId, UserId};
use crate::policy::btg::{GrantAccess, OverseeGrants};

/// One grant.
#[derive(Debug, Clone, FromRow)]
pub struct GrantRow {
    /// The grant.
    pub id: GrantId,
    /// The admin who granted it.
    pub granted_by_user_id: UserId,
    /// Who may use it.
    pub granted_to_user_id: UserId,
    /// For which patient.
    pub patient_id: PatientId,
    /// Why (free text by the admin; never shown to the grantee's patients).
    pub justification: String,
    /// For how long.
    pub duration_minutes: i32,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Stops working at.
    pub expires_at: DateTime<Utc>,
    /// Revoked at.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// Reviewed at.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Who reviewed it.
    pub reviewed_by_user_id: Option<UserId>,
    /// `appropriate` or `inappropriate`.
    pub review_outcome: Option<String>,
    /// Whether it had expired at the transaction's `now()` (and was not revoked first).
    pub expired: bool,
}

impl GrantRow {
    /// Neither revoked nor expired.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none() && !self.expired
    }
}

const COLUMNS: &str = "id, granted_by_user_id, granted_to_user_id, patient_id, justification, \
     duration_minutes, created_at, expires_at, revoked_at, revoked_reason, reviewed_at, \
     reviewed_by_user_id, review_outcome, (revoked_at IS NULL AND expires_at <= now()) AS expired";

/// A grant to create.
#[derive(Debug)]
pub struct NewGrant<'a> {
    /// The grant's id.
    pub id: GrantId,
    /// The admin granting it.
    pub granted_by: UserId,
    /// The grantee.
    pub granted_to: UserId,
    /// The patient.
    pub patient: PatientId,
    /// Why.
    pub justification: &'a str,
    /// One of the allowed durations.
    pub duration_minutes: i32,
}

/// Serializes grant creation for one (grantee, patient) pair, so two concurrent requests cannot
/// both see "no active grant" and both create one. Held until the transaction ends.
pub async fn lock_pair(
    tx: &mut TenantTx,
    grantee: UserId,
    patient: PatientId,
) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtext('haven.btg:' || $1::text || $2::text || $3::text))",
    )
    .bind(org)
    .bind(grantee)
    .bind(patient)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// Inserts a grant expiring `duration_minutes` after the transaction's `now()`.
pub async fn insert(
    tx: &mut TenantTx,
    _may: &GrantAccess,
    new: &NewGrant<'_>,
) -> Result<GrantRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO btg_grants (organization_id, id, granted_by_user_id, granted_to_user_id, \
             patient_id, justification, duration_minutes, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(mins => $7)) RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(new.id)
    .bind(new.granted_by)
    .bind(new.granted_to)
    .bind(new.patient)
    .bind(new.justification)
    .bind(new.duration_minutes)
    .fetch_one(tx.conn())
    .await
}

/// Grant `id` of the transaction's organization; with `lock`, row-locked until the end of the
/// transaction (for a state change).
pub async fn find(
    tx: &mut TenantTx,
    id: GrantId,
    lock: bool,
) -> Result<Option<GrantRow>, sqlx::Error> {
    let org = tx.organization_id();
    let suffix = if lock { " FOR UPDATE" } else { "" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM btg_grants WHERE organization_id = $1 AND id = $2{suffix}"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// The active grant `user` holds for `patient` (the one lasting longest), if any.
pub async fn active_for(
    tx: &mut TenantTx,
    user: UserId,
    patient: PatientId,
) -> Result<Option<GrantId>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar(
        "SELECT id FROM btg_grants \
         WHERE organization_id = $1 AND granted_to_user_id = $2 AND patient_id = $3 \
           AND revoked_at IS NULL AND expires_at > now() \
         ORDER BY expires_at DESC LIMIT 1",
    )
    .bind(org)
    .bind(user)
    .bind(patient)
    .fetch_optional(tx.conn())
    .await
}

/// Which grants a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = BtgGrantStatus, rename_all = "lowercase")]
pub enum Status {
    /// Neither revoked nor expired.
    Active,
    /// Ran out without being revoked.
    Expired,
    /// Revoked (before or after it would have expired).
    Revoked,
    /// Every grant.
    All,
}

/// One page of the organization's grants with `status`, newest first, and the total.
pub async fn list(
    tx: &mut TenantTx,
    _may: &OverseeGrants,
    status: Status,
    limit: i64,
    offset: i64,
) -> Result<(Vec<GrantRow>, i64), sqlx::Error> {
    let org = tx.organization_id();
    let condition = match status {
        Status::Active => "revoked_at IS NULL AND expires_at > now()",
        Status::Expired => "revoked_at IS NULL AND expires_at <= now()",
        Status::Revoked => "revoked_at IS NOT NULL",
        Status::All => "true",
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(super::page_query(
        COLUMNS,
        &format!("FROM btg_grants WHERE organization_id = $1 AND {condition}"),
        "created_at DESC, id DESC",
        2,
    )))
    .bind(org)
    .bind(limit)
    .bind(offset)
    .fetch_all(tx.conn())
    .await?;
    super::read_page(&rows)
}

/// Revokes grant `id` (the caller has checked it is active, under its row lock).
pub async fn revoke(
    tx: &mut TenantTx,
    _may: &OverseeGrants,
    id: GrantId,
    by: UserId,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE btg_grants SET revoked_at = now(), revoked_by_user_id = $3, revoked_reason = $4 \
         WHERE organization_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(org)
    .bind(id)
    .bind(by)
    .bind(reason)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// Records the review of grant `id` (the caller has checked it is not reviewed yet).
pub async fn review(
    tx: &mut TenantTx,
    _may: &OverseeGrants,
    id: GrantId,
    by: UserId,
    outcome: &str,
    notes: Option<&str>,
) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE btg_grants SET reviewed_at = now(), reviewed_by_user_id = $3, review_outcome = $4, \
             review_notes = $5 \
         WHERE organization_id = $1 AND id = $2 AND reviewed_at IS NULL",
    )
    .bind(org)
    .bind(id)
    .bind(by)
    .bind(outcome)
    .bind(notes)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// A grant whose lapse was just recorded.
#[derive(Debug, Clone, FromRow)]
pub struct Lapsed {
    /// The grant.
    pub id: GrantId,
    /// Its holder.
    pub granted_to_user_id: UserId,
    /// Its patient.
    pub patient_id: PatientId,
    /// When it ran out.
    pub expires_at: DateTime<Utc>,
}

/// Marks the organization's lapsed, unrevoked grants as recorded and returns them: each grant is
/// returned once, ever (a concurrent caller waits on the row locks, then finds them marked).
pub async fn mark_lapsed(tx: &mut TenantTx, limit: i64) -> Result<Vec<Lapsed>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "UPDATE btg_grants SET expiry_recorded_at = now() \
         WHERE organization_id = $1 AND id IN ( \
             SELECT id FROM btg_grants \
             WHERE organization_id = $1 AND revoked_at IS NULL AND expiry_recorded_at IS NULL \
               AND expires_at <= now() \
             ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
         RETURNING id, granted_to_user_id, patient_id, expires_at",
    )
    .bind(org)
    .bind(limit)
    .fetch_all(tx.conn())
    .await
}

/// A staff member as a grant shows them (not PHI).
#[derive(Debug, Clone, serde::Serialize, FromRow)]
#[serde(rename_all = "camelCase")]
pub struct StaffRow {
    /// The user.
    pub id: UserId,
    /// Their login.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
}

/// The organization's users among `ids`.
pub async fn staff(tx: &mut TenantTx, ids: &[UserId]) -> Result<Vec<StaffRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "SELECT id, email, first_name, last_name FROM users \
         WHERE organization_id = $1 AND id = ANY($2)",
    )
    .bind(org)
    .bind(ids)
    .fetch_all(tx.conn())
    .await
}

/// The encrypted name and MRN of a patient a grant names.
#[derive(Debug, Clone, FromRow)]
pub struct PatientNameRow {
    /// The patient.
    pub id: PatientId,
    /// Ciphertext.
    pub first_name: Vec<u8>,
    /// Ciphertext.
    pub last_name: Vec<u8>,
    /// Ciphertext.
    pub medical_record_number: Vec<u8>,
}

/// The (undeleted) patients among `ids`, still encrypted.
pub async fn patient_names(
    tx: &mut TenantTx,
    _may: &OverseeGrants,
    ids: &[PatientId],
) -> Result<Vec<PatientNameRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "SELECT id, first_name, last_name, medical_record_number FROM patients \
         WHERE organization_id = $1 AND id = ANY($2) AND deleted_at IS NULL",
    )
    .bind(org)
    .bind(ids)
    .fetch_all(tx.conn())
    .await
}

/// The organization that holds grant `id`, whichever it is (to audit cross-tenant attempts).
pub async fn organization_of(
    tx: &mut TenantTx,
    id: GrantId,
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.btg_grant_organization($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}
