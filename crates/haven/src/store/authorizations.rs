//! Insurance authorizations as stored, and the statements that move their `used_units`. Each
//! movement is one conditional UPDATE: the bounds are part of its WHERE clause, so concurrent
//! requests can never over-allocate, and the CHECK constraints back it up.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::FromRow;

use crate::db::TenantTx;
use crate::ids::{AuthorizationId, OrganizationId, PatientId, UserId};
use crate::policy::capability::{ManageAuthorizations, OfPatient, PatientList, PatientUse, Scope};

/// An authorization row (`member_id` still encrypted). `status` is the effective one: EXPIRED
/// when an ACTIVE or EXHAUSTED authorization's end date has passed.
#[derive(Debug, Clone, FromRow)]
pub struct AuthorizationRow {
    /// The authorization.
    pub id: AuthorizationId,
    /// Whose.
    pub patient_id: PatientId,
    /// The insurer.
    pub payer_name: String,
    /// Ciphertext of the member id.
    pub member_id: Option<Vec<u8>>,
    /// CPT/HCPCS-like code.
    pub service_code: String,
    /// Minutes per unit.
    pub unit_minutes: i32,
    /// Units allowed.
    pub total_units: i32,
    /// Units held, consumed or adjusted.
    pub used_units: i32,
    /// First day covered.
    pub start_date: NaiveDate,
    /// Last day covered.
    pub end_date: NaiveDate,
    /// Below this many available units, the authorization is low.
    pub low_units_threshold: i32,
    /// Whether it is below the threshold now.
    pub low_units_alerted: bool,
    /// ACTIVE, EXHAUSTED, EXPIRED or CANCELLED.
    pub status: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl OfPatient for AuthorizationRow {
    const ENTITY: &'static str = "authorization";
    fn entity_id(&self) -> uuid::Uuid {
        self.id.as_uuid()
    }
    fn patient_id(&self) -> PatientId {
        self.patient_id
    }
}

impl AuthorizationRow {
    /// Units still available.
    #[must_use]
    pub fn available_units(&self) -> i32 {
        self.total_units - self.used_units
    }
}

/// The effective status, in SQL (dates are UTC dates).
const STATUS: &str = "CASE WHEN status IN ('ACTIVE', 'EXHAUSTED') \
     AND end_date < (now() AT TIME ZONE 'UTC')::date THEN 'EXPIRED' ELSE status END";

fn columns() -> String {
    format!(
        "id, patient_id, payer_name, member_id, service_code, unit_minutes, total_units, \
         used_units, start_date, end_date, low_units_threshold, low_units_alerted, \
         {STATUS} AS status, created_at, updated_at"
    )
}

/// A new authorization.
#[derive(Debug)]
pub struct NewAuthorization<'a> {
    /// Its id (the member id's ciphertext is bound to it).
    pub id: AuthorizationId,
    /// Whose.
    pub patient_id: PatientId,
    /// The insurer.
    pub payer_name: &'a str,
    /// Ciphertext.
    pub member_id: Option<Vec<u8>>,
    /// Checked code.
    pub service_code: &'a str,
    /// Minutes per unit.
    pub unit_minutes: i32,
    /// Units allowed.
    pub total_units: i32,
    /// First day.
    pub start_date: NaiveDate,
    /// Last day.
    pub end_date: NaiveDate,
    /// Low-units threshold.
    pub low_units_threshold: i32,
    /// Who created it.
    pub created_by: UserId,
}

/// Inserts an authorization.
pub async fn insert(
    tx: &mut TenantTx,
    _may: &ManageAuthorizations,
    new: &NewAuthorization<'_>,
) -> Result<AuthorizationRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO authorizations (organization_id, id, patient_id, payer_name, member_id, \
             service_code, unit_minutes, total_units, start_date, end_date, low_units_threshold, \
             created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {}",
        columns()
    )))
    .bind(org)
    .bind(new.id)
    .bind(new.patient_id)
    .bind(new.payer_name)
    .bind(new.member_id.as_deref())
    .bind(new.service_code)
    .bind(new.unit_minutes)
    .bind(new.total_units)
    .bind(new.start_date)
    .bind(new.end_date)
    .bind(new.low_units_threshold)
    .bind(new.created_by)
    .fetch_one(tx.conn())
    .await
}

/// Authorization `id` of the transaction's organization.
pub async fn find(
    tx: &mut TenantTx,
    _may: &PatientUse,
    id: AuthorizationId,
) -> Result<Option<AuthorizationRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM authorizations WHERE organization_id = $1 AND id = $2",
        columns()
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// List filters.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Only this patient's.
    pub patient_id: Option<PatientId>,
    /// Only this (effective) status.
    pub status: Option<String>,
    /// Only those that are current and end within this many days (renewals).
    pub expiring_within_days: Option<i32>,
    /// Only those below their low-units threshold.
    pub low_units: bool,
}

/// One page of the authorizations in `scope` matching `filter`, soonest-ending first, and the
/// total.
pub async fn list(
    tx: &mut TenantTx,
    may: &PatientList,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AuthorizationRow>, i64), sqlx::Error> {
    let org = tx.organization_id();
    let care_team_of = match may.scope() {
        Scope::All => None,
        Scope::CareTeamOf(user) => Some(user),
    };
    let where_clause = format!(
        "FROM authorizations a WHERE a.organization_id = $1 \
         AND ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM care_team_members c \
              WHERE c.organization_id = a.organization_id AND c.patient_id = a.patient_id AND c.user_id = $2)) \
         AND ($3::uuid IS NULL OR a.patient_id = $3) \
         AND ($4::text IS NULL OR ({STATUS}) = $4) \
         AND ($5::int IS NULL OR (a.status IN ('ACTIVE', 'EXHAUSTED') \
              AND a.end_date >= (now() AT TIME ZONE 'UTC')::date \
              AND a.end_date <= (now() AT TIME ZONE 'UTC')::date + $5)) \
         AND (NOT $6 OR a.low_units_alerted)"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(super::page_query(
        &columns(),
        &where_clause,
        "a.end_date, a.id",
        7,
    )))
    .bind(org)
    .bind(care_team_of)
    .bind(filter.patient_id)
    .bind(filter.status.as_deref())
    .bind(filter.expiring_within_days)
    .bind(filter.low_units)
    .bind(limit)
    .bind(offset)
    .fetch_all(tx.conn())
    .await?;
    super::read_page(&rows)
}

/// What a successful change of `used_units` leaves.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct Balance {
    /// The authorization.
    pub id: AuthorizationId,
    /// Whose.
    pub patient_id: PatientId,
    /// Minutes per unit.
    pub unit_minutes: i32,
    /// Units allowed.
    pub total_units: i32,
    /// Units used now.
    pub used_units: i32,
    /// The low-units threshold.
    pub low_units_threshold: i32,
}

impl Balance {
    /// Units available now.
    #[must_use]
    pub fn available_units(&self) -> i32 {
        self.total_units - self.used_units
    }

    /// Whether taking `taken` units (just done) crossed the low-units threshold downwards.
    #[must_use]
    pub fn crossed_low_threshold(&self, taken: i32) -> bool {
        taken > 0
            && self.available_units() < self.low_units_threshold
            && self.available_units() + taken >= self.low_units_threshold
    }
}

const BALANCE: &str = "id, patient_id, unit_minutes, total_units, used_units, low_units_threshold";

/// The balance of authorization `id` as it is.
pub(crate) async fn balance(
    tx: &mut TenantTx,
    id: AuthorizationId,
) -> Result<Balance, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {BALANCE} FROM authorizations WHERE organization_id = $1 AND id = $2"
    )))
    .bind(org)
    .bind(id)
    .fetch_one(tx.conn())
    .await
}

/// Takes `units` for a session on `day` in one statement: only from an ACTIVE authorization
/// covering that day, with that many units available, for a session of at most a day. `None`
/// when any condition fails (nothing changed).
pub(crate) async fn take_for_session(
    tx: &mut TenantTx,
    id: AuthorizationId,
    units: i32,
    day: NaiveDate,
    max_minutes: i32,
) -> Result<Option<Balance>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE authorizations SET used_units = used_units + $3 \
         WHERE organization_id = $1 AND id = $2 AND status = 'ACTIVE' \
           AND used_units + $3 <= total_units AND $4 BETWEEN start_date AND end_date \
           AND $3 * unit_minutes <= $5 \
         RETURNING {BALANCE}"
    )))
    .bind(org)
    .bind(id)
    .bind(units)
    .bind(day)
    .bind(max_minutes)
    .fetch_optional(tx.conn())
    .await
}

/// Takes `per` units for each of `count` sessions from `first` to `last` (UTC days), all at
/// once, in one conditional UPDATE. `None` when the authorization cannot cover them all
/// (nothing changed).
pub(crate) async fn take_for_series(
    tx: &mut TenantTx,
    id: AuthorizationId,
    per: i32,
    count: i32,
    (first, last): (NaiveDate, NaiveDate),
    max_minutes: i32,
) -> Result<Option<Balance>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE authorizations SET used_units = used_units + $3 * $4 \
         WHERE organization_id = $1 AND id = $2 AND status = 'ACTIVE' \
           AND used_units + $3 * $4 <= total_units \
           AND $5 >= start_date AND $6 <= end_date AND $3 * unit_minutes <= $7 \
         RETURNING {BALANCE}"
    )))
    .bind(org)
    .bind(id)
    .bind(per)
    .bind(count)
    .bind(first)
    .bind(last)
    .bind(max_minutes)
    .fetch_optional(tx.conn())
    .await
}

/// Takes `units` more for a session being completed: only from an ACTIVE authorization with
/// that many available. `None` when not (nothing changed).
pub(crate) async fn take_extra(
    tx: &mut TenantTx,
    id: AuthorizationId,
    units: i32,
) -> Result<Option<Balance>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE authorizations SET used_units = used_units + $3 \
         WHERE organization_id = $1 AND id = $2 AND status = 'ACTIVE' \
           AND used_units + $3 <= total_units \
         RETURNING {BALANCE}"
    )))
    .bind(org)
    .bind(id)
    .bind(units)
    .fetch_optional(tx.conn())
    .await
}

/// Gives `units` back (a released reservation). The session's units were counted in
/// `used_units`, so this cannot go negative; the CHECK constraint would refuse it if it did.
pub(crate) async fn give_back(
    tx: &mut TenantTx,
    id: AuthorizationId,
    units: i32,
) -> Result<Balance, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE authorizations SET used_units = used_units - $3 \
         WHERE organization_id = $1 AND id = $2 RETURNING {BALANCE}"
    )))
    .bind(org)
    .bind(id)
    .bind(units)
    .fetch_one(tx.conn())
    .await
}

/// Adds `adjustment` (either sign) to `used_units` if the result stays within `0..=total_units`
/// and still covers the units its open sessions hold (they will give those back: an adjustment
/// below them would make used units negative later). `None` when it would not (nothing
/// changed).
///
/// The authorization is locked first, so the held units counted by the second statement (a
/// fresh snapshot) include every reservation committed before: each one locks the row too.
pub(crate) async fn adjust(
    tx: &mut TenantTx,
    id: AuthorizationId,
    adjustment: i32,
) -> Result<Option<Balance>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query("SELECT 1 FROM authorizations WHERE organization_id = $1 AND id = $2 FOR UPDATE")
        .bind(org)
        .bind(id)
        .execute(tx.conn())
        .await?;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE authorizations SET used_units = used_units + $3 \
         WHERE organization_id = $1 AND id = $2 AND used_units + $3 <= total_units \
           AND used_units + $3 >= (SELECT coalesce(sum(s.reserved_units), 0) FROM therapy_sessions s \
                WHERE s.organization_id = $1 AND s.authorization_id = $2 \
                  AND s.status IN ('SCHEDULED', 'IN_PROGRESS')) \
         RETURNING {BALANCE}"
    )))
    .bind(org)
    .bind(id)
    .bind(adjustment)
    .fetch_optional(tx.conn())
    .await
}

/// The organization that holds authorization `id`, whichever it is (to audit cross-tenant
/// attempts).
pub async fn organization_of(
    tx: &mut TenantTx,
    id: AuthorizationId,
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.authorization_organization($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}

/// One authorization's side of the ledger invariant.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct LedgerCheck {
    /// The authorization.
    pub authorization_id: AuthorizationId,
    /// Its `used_units`.
    pub used_units: i32,
    /// The sum of its ledger.
    pub ledger_units: i64,
    /// Units its SCHEDULED and IN_PROGRESS sessions hold.
    pub held_units: i64,
    /// Units its COMPLETED sessions consumed.
    pub consumed_units: i64,
    /// The sum of its ADJUST rows.
    pub adjusted_units: i64,
    /// `used = ledger = held + consumed + adjusted`.
    pub consistent: bool,
}

/// The ledger invariant for every authorization of the transaction's organization
/// (`haven_units.ledger_check()`).
pub async fn ledger_check(tx: &mut TenantTx) -> Result<Vec<LedgerCheck>, sqlx::Error> {
    sqlx::query_as(
        "SELECT authorization_id, used_units, ledger_units, held_units, consumed_units, \
                adjusted_units, consistent FROM haven_units.ledger_check()",
    )
    .fetch_all(tx.conn())
    .await
}
