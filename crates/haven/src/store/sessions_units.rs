//! Therapy sessions (the units they hold) and their ledger rows, as stored. Named apart from
//! `store::sessions`, which holds login sessions (refresh-token families).
//!
//! A statement that changes a session writes its ledger row in the same statement (a
//! data-modifying CTE), so neither can exist without the other.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::db::TenantTx;
use crate::ids::{AuthorizationId, OrganizationId, PatientId, TherapySessionId, UserId};
use crate::policy::capability::{OfPatient, PatientList, PatientUse, Scope};

/// A session row.
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    /// The session.
    pub id: TherapySessionId,
    /// The authorization its units come from.
    pub authorization_id: AuthorizationId,
    /// Whose.
    pub patient_id: PatientId,
    /// Who treats.
    pub clinician_id: Option<UserId>,
    /// When it starts.
    pub start_time: DateTime<Utc>,
    /// Units held while open.
    pub reserved_units: i32,
    /// The authorization's minutes per unit.
    pub unit_minutes: i32,
    /// Units consumed, once completed.
    pub actual_units: Option<i32>,
    /// Minutes delivered, when completed by minutes.
    pub actual_minutes: Option<i32>,
    /// SCHEDULED, IN_PROGRESS, COMPLETED or CANCELLED.
    pub status: String,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Started.
    pub started_at: Option<DateTime<Utc>>,
    /// Completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl OfPatient for SessionRow {
    const ENTITY: &'static str = "session";
    fn entity_id(&self) -> uuid::Uuid {
        self.id.as_uuid()
    }
    fn patient_id(&self) -> PatientId {
        self.patient_id
    }
}

const COLUMNS: &str = "id, authorization_id, patient_id, clinician_id, start_time, \
     reserved_units, unit_minutes, actual_units, actual_minutes, status, cancel_reason, \
     started_at, completed_at, cancelled_at, created_at, updated_at";

/// A reservation to record.
#[derive(Debug)]
pub struct NewSession {
    /// Its id.
    pub id: TherapySessionId,
    /// The authorization the units were taken from.
    pub authorization_id: AuthorizationId,
    /// Whose.
    pub patient_id: PatientId,
    /// Who treats.
    pub clinician_id: Option<UserId>,
    /// When.
    pub start_time: DateTime<Utc>,
    /// Units taken.
    pub reserved_units: i32,
    /// The authorization's minutes per unit.
    pub unit_minutes: i32,
    /// Who reserved.
    pub created_by: Option<UserId>,
}

/// Inserts a SCHEDULED session and its RESERVE ledger row (one statement). The units must
/// already have been taken from the authorization in this transaction.
pub(crate) async fn insert_reserved(
    tx: &mut TenantTx,
    new: &NewSession,
) -> Result<SessionRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH s AS ( \
             INSERT INTO therapy_sessions (organization_id, id, authorization_id, patient_id, \
                 clinician_id, start_time, reserved_units, unit_minutes, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}), \
         l AS ( \
             INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, user_id, reason) \
             SELECT $1, s.authorization_id, s.id, 'RESERVE', s.reserved_units, $9, 'session reserved' FROM s) \
         SELECT {COLUMNS} FROM s"
    )))
    .bind(org)
    .bind(new.id)
    .bind(new.authorization_id)
    .bind(new.patient_id)
    .bind(new.clinician_id)
    .bind(new.start_time)
    .bind(new.reserved_units)
    .bind(new.unit_minutes)
    .bind(new.created_by)
    .fetch_one(tx.conn())
    .await
}

/// Session `id` of the transaction's organization.
pub async fn find(
    tx: &mut TenantTx,
    _may: &PatientUse,
    id: TherapySessionId,
) -> Result<Option<SessionRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM therapy_sessions WHERE organization_id = $1 AND id = $2"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// Session `id`, locked until the transaction ends: the state transitions of one session run
/// one at a time (completing twice at once: the second sees the first's result).
pub async fn lock(
    tx: &mut TenantTx,
    _may: &PatientUse,
    id: TherapySessionId,
) -> Result<Option<SessionRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM therapy_sessions WHERE organization_id = $1 AND id = $2 FOR UPDATE"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// SCHEDULED → IN_PROGRESS (the session must be locked and SCHEDULED).
pub(crate) async fn mark_started(
    tx: &mut TenantTx,
    id: TherapySessionId,
) -> Result<SessionRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE therapy_sessions SET status = 'IN_PROGRESS', started_at = now(), updated_at = now() \
         WHERE organization_id = $1 AND id = $2 AND status = 'SCHEDULED' RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .fetch_one(tx.conn())
    .await
}

/// The ledger rows of a completion: `delta` is actual − reserved units. Always a CONSUME row
/// (the extra units taken, or 0), and a RELEASE row for unused units.
pub(crate) async fn mark_completed(
    tx: &mut TenantTx,
    id: TherapySessionId,
    actual_units: i32,
    actual_minutes: Option<i32>,
    user: Option<UserId>,
) -> Result<SessionRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH old AS ( \
             SELECT id, authorization_id, reserved_units FROM therapy_sessions \
             WHERE organization_id = $1 AND id = $2 AND status IN ('SCHEDULED', 'IN_PROGRESS')), \
         s AS ( \
             UPDATE therapy_sessions t SET status = 'COMPLETED', actual_units = $3, \
                 actual_minutes = $4, completed_at = now(), updated_at = now() \
             FROM old WHERE t.organization_id = $1 AND t.id = old.id RETURNING {T_COLUMNS}), \
         l AS ( \
             INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, user_id, reason) \
             SELECT $1, old.authorization_id, old.id, 'CONSUME', greatest($3 - old.reserved_units, 0), $5, \
                    format('consumed %s of %s reserved units', $3, old.reserved_units) FROM old \
             UNION ALL \
             SELECT $1, old.authorization_id, old.id, 'RELEASE', $3 - old.reserved_units, $5, \
                    'unused units released at completion' FROM old WHERE $3 < old.reserved_units) \
         SELECT {COLUMNS} FROM s",
        T_COLUMNS = t_columns()
    )))
    .bind(org)
    .bind(id)
    .bind(actual_units)
    .bind(actual_minutes)
    .bind(user)
    .fetch_one(tx.conn())
    .await
}

/// Open → CANCELLED with its RELEASE ledger row (the session must be locked and open).
pub(crate) async fn mark_cancelled(
    tx: &mut TenantTx,
    id: TherapySessionId,
    reason: &str,
    user: Option<UserId>,
) -> Result<SessionRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH s AS ( \
             UPDATE therapy_sessions SET status = 'CANCELLED', cancel_reason = $3, \
                 cancelled_at = now(), updated_at = now() \
             WHERE organization_id = $1 AND id = $2 AND status IN ('SCHEDULED', 'IN_PROGRESS') \
             RETURNING {COLUMNS}), \
         l AS ( \
             INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, user_id, reason) \
             SELECT $1, s.authorization_id, s.id, 'RELEASE', -s.reserved_units, $4, 'session cancelled: ' || $3 FROM s) \
         SELECT {COLUMNS} FROM s"
    )))
    .bind(org)
    .bind(id)
    .bind(reason)
    .bind(user)
    .fetch_one(tx.conn())
    .await
}

/// Records an ADJUST ledger row (the authorization was just adjusted in this transaction): of
/// the authorization alone, or correcting what completed session `session` consumed (the
/// database checks it is COMPLETED, of this authorization, and keeps its units at 0 or more).
pub(crate) async fn record_adjustment(
    tx: &mut TenantTx,
    authorization_id: AuthorizationId,
    session: Option<TherapySessionId>,
    units: i32,
    user: Option<UserId>,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, \
             user_id, reason) \
         VALUES ($1, $2, $3, 'ADJUST', $4, $5, $6)",
    )
    .bind(org)
    .bind(authorization_id)
    .bind(session)
    .bind(units)
    .bind(user)
    .bind(reason)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// Session `id`'s net units in the ledger: what a completed session consumed, corrections
/// included (what its charge bills).
pub(crate) async fn ledger_units(
    tx: &mut TenantTx,
    id: TherapySessionId,
) -> Result<i32, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar(
        "SELECT coalesce(sum(units), 0)::int FROM unit_ledger \
         WHERE organization_id = $1 AND session_id = $2",
    )
    .bind(org)
    .bind(id)
    .fetch_one(tx.conn())
    .await
}

fn t_columns() -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("t.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// List filters.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Only this patient's.
    pub patient_id: Option<PatientId>,
    /// Only this authorization's.
    pub authorization_id: Option<AuthorizationId>,
    /// Only this status.
    pub status: Option<String>,
    /// Starting at or after.
    pub from: Option<DateTime<Utc>>,
    /// Starting before.
    pub to: Option<DateTime<Utc>>,
}

/// One page of the sessions in `scope` matching `filter`, by start time, and the total.
pub async fn list(
    tx: &mut TenantTx,
    may: &PatientList,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<SessionRow>, i64), sqlx::Error> {
    let org = tx.organization_id();
    let care_team_of = match may.scope() {
        Scope::All => None,
        Scope::CareTeamOf(user) => Some(user),
    };
    let where_clause = "FROM therapy_sessions t WHERE t.organization_id = $1 \
         AND ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM care_team_members c \
              WHERE c.organization_id = t.organization_id AND c.patient_id = t.patient_id AND c.user_id = $2)) \
         AND ($3::uuid IS NULL OR t.patient_id = $3) \
         AND ($4::uuid IS NULL OR t.authorization_id = $4) \
         AND ($5::text IS NULL OR t.status = $5) \
         AND ($6::timestamptz IS NULL OR t.start_time >= $6) \
         AND ($7::timestamptz IS NULL OR t.start_time < $7)";
    let rows = sqlx::query(sqlx::AssertSqlSafe(super::page_query(
        &t_columns(),
        where_clause,
        "t.start_time, t.id",
        8,
    )))
    .bind(org)
    .bind(care_team_of)
    .bind(filter.patient_id)
    .bind(filter.authorization_id)
    .bind(filter.status.as_deref())
    .bind(filter.from)
    .bind(filter.to)
    .bind(limit)
    .bind(offset)
    .fetch_all(tx.conn())
    .await?;
    super::read_page(&rows)
}

/// The organization that holds session `id`, whichever it is (to audit cross-tenant attempts).
pub async fn organization_of(
    tx: &mut TenantTx,
    id: TherapySessionId,
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.therapy_session_organization($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}

/// Who released stale reservations, for their audit rows.
#[derive(Debug, Clone, Copy)]
pub struct CleanupActor<'a> {
    /// The user who asked (`None`: the background job or the command line).
    pub user_id: Option<UserId>,
    /// Their role's name.
    pub role: Option<&'a str>,
    /// The request, when it came over HTTP.
    pub request_id: Option<&'a str>,
    /// `background`, `api` or `cli`.
    pub trigger: &'a str,
}

/// Releases the organization's stale reservations in one statement: open sessions whose start
/// time plus reserved duration plus `$2` minutes has passed become CANCELLED, each gets a
/// STALE_RELEASE ledger row and a STALE_RESERVATION_RELEASED audit row, and each authorization
/// gets its units back (one UPDATE per authorization, with the grouped sum). The range condition
/// on `start_time` (nothing can be stale that started less than the threshold ago) lets it use
/// the partial index of open sessions. Returns (sessions, units).
pub const RELEASE_STALE: &str = "\
    WITH stale AS ( \
        UPDATE therapy_sessions s SET status = 'CANCELLED', cancel_reason = 'stale reservation released', \
            cancelled_at = now(), updated_at = now() \
        WHERE s.organization_id = $1 AND s.status IN ('SCHEDULED', 'IN_PROGRESS') \
          AND s.start_time < now() - make_interval(mins => $2) \
          AND s.start_time + make_interval(mins => s.reserved_units * s.unit_minutes + $2) < now() \
        RETURNING s.organization_id, s.id, s.authorization_id, s.patient_id, s.reserved_units), \
    appointments AS ( \
        UPDATE calendar_entries c SET status = 'CANCELLED', reason = 'stale reservation released', \
            hold_expires_at = NULL, version = c.version + 1, updated_at = now() \
        FROM stale WHERE c.organization_id = stale.organization_id AND c.session_id = stale.id \
          AND c.status IN ('HELD', 'BOOKED', 'CHECKED_IN')), \
    ledger AS ( \
        INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, user_id, reason) \
        SELECT organization_id, authorization_id, id, 'STALE_RELEASE', -reserved_units, $3, \
               'stale reservation released' FROM stale), \
    released AS ( \
        UPDATE authorizations a SET used_units = a.used_units - g.units \
        FROM (SELECT organization_id, authorization_id, sum(reserved_units)::int AS units \
              FROM stale GROUP BY organization_id, authorization_id) g \
        WHERE a.organization_id = g.organization_id AND a.id = g.authorization_id), \
    audit AS ( \
        INSERT INTO audit_outbox (organization_id, id, occurred_at, user_id, role, action, \
            entity_type, entity_id, patient_id, access_method, outcome, request_id, details) \
        SELECT organization_id, haven_units.uuid_v7(), now(), $3, $4, 'STALE_RESERVATION_RELEASED', \
            'session', id::text, patient_id, 'system', 'success', $5, \
            jsonb_build_object('authorizationId', authorization_id, 'unitsReleased', reserved_units, \
                               'staleThresholdMinutes', $2, 'trigger', $6::text) \
        FROM stale) \
    SELECT count(*), coalesce(sum(reserved_units), 0)::bigint FROM stale";

/// Runs [`RELEASE_STALE`] for the transaction's organization.
pub async fn release_stale(
    tx: &mut TenantTx,
    threshold_minutes: i32,
    actor: &CleanupActor<'_>,
) -> Result<(i64, i64), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(RELEASE_STALE)
        .bind(org)
        .bind(threshold_minutes)
        .bind(actor.user_id)
        .bind(actor.role)
        .bind(actor.request_id)
        .bind(actor.trigger)
        .fetch_one(tx.conn())
        .await
}

/// Organizations with open sessions that started more than `threshold_minutes` ago (a superset
/// of those with stale reservations), across tenants, through the narrow SECURITY DEFINER
/// look-up (ids only). `pool` is the runtime pool with no tenant set.
pub async fn organizations_with_stale_candidates(
    pool: &sqlx::PgPool,
    threshold_minutes: i32,
) -> Result<Vec<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT haven_units.organizations_with_open_sessions_before(now() - make_interval(mins => $1))",
    )
    .bind(threshold_minutes)
    .fetch_all(pool)
    .await
}
