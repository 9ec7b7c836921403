//! Appointments, as stored (kind `APPOINTMENT` of `calendar_entries`). Overlaps are refused by
//! the table's exclusion constraints; `crate::scheduling` maps them by name.

use chrono::{DateTime, Duration, Utc};
use sqlx::FromRow;

use crate::db::TenantTx;
use crate::ids::{
    AppointmentId, AuthorizationId, OrganizationId, PatientId, SeriesId, TherapySessionId, UserId,
};
use crate::policy::capability::{CalendarScope, OfPatient, PatientUse, Schedule};

/// An appointment row.
#[derive(Debug, Clone, FromRow)]
pub struct AppointmentRow {
    /// The appointment.
    pub id: AppointmentId,
    /// Whose.
    pub patient_id: PatientId,
    /// With whom.
    pub clinician_id: UserId,
    /// The service.
    pub service_code: String,
    /// Start.
    pub start_at: DateTime<Utc>,
    /// End (exclusive).
    pub end_at: DateTime<Utc>,
    /// HELD, BOOKED, CHECKED_IN, FULFILLED, CANCELLED or NO_SHOW.
    pub status: String,
    /// Until when a HELD appointment holds.
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// The authorization its units come from.
    pub authorization_id: Option<AuthorizationId>,
    /// The §5 session that holds its units.
    pub session_id: Option<TherapySessionId>,
    /// The appointment it is explicitly concurrent with.
    pub concurrent_with_id: Option<AppointmentId>,
    /// Its series.
    pub series_id: Option<SeriesId>,
    /// Whether it was booked outside the clinician's availability.
    pub availability_overridden: bool,
    /// Why it was cancelled.
    pub reason: Option<String>,
    /// Bumped by every change (optimistic concurrency of reschedules).
    pub version: i32,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl OfPatient for AppointmentRow {
    const ENTITY: &'static str = "appointment";
    fn entity_id(&self) -> uuid::Uuid {
        self.id.as_uuid()
    }
    fn patient_id(&self) -> PatientId {
        self.patient_id
    }
}

/// The statuses in which an appointment occupies its time.
pub const ACTIVE: [&str; 3] = ["HELD", "BOOKED", "CHECKED_IN"];

pub(crate) const COLUMNS: &str = "id, patient_id, clinician_id, service_code, start_at, end_at, status, \
     hold_expires_at, authorization_id, session_id, concurrent_with_id, series_id, \
     availability_overridden, reason, version, created_at, updated_at";

/// An appointment to write.
#[derive(Debug)]
pub struct NewAppointment {
    /// Its id.
    pub id: AppointmentId,
    /// Whose.
    pub patient_id: PatientId,
    /// With whom.
    pub clinician_id: UserId,
    /// The service.
    pub service_code: String,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// Minutes the clinician keeps free after it.
    pub buffer_minutes: i32,
    /// Until when it is held (`None`: BOOKED).
    pub hold_expires_at: Option<DateTime<Utc>>,
    /// The authorization and session holding its units.
    pub units: Option<(AuthorizationId, TherapySessionId)>,
    /// The appointment it is concurrent with.
    pub concurrent_with: Option<AppointmentId>,
    /// Booked outside availability.
    pub overridden: bool,
    /// Who booked (`None`: Haven itself, the waitlist's auto-offer).
    pub created_by: Option<UserId>,
}

/// Whether `[start, end)` lies within one of the clinician's weekly rules for `service_code`
/// on the local date of `start`, in the rules' zone. The wall times become instants with
/// `AT TIME ZONE` for that very date, so DST changes shift nothing.
pub async fn within_availability(
    tx: &mut TenantTx,
    clinician: UserId,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    service_code: &str,
) -> Result<bool, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar(
        "SELECT EXISTS ( \
             SELECT 1 FROM clinician_availability a \
             CROSS JOIN LATERAL (SELECT ($3 AT TIME ZONE a.time_zone)::date AS d) local \
             JOIN availability_rules r ON r.organization_id = a.organization_id \
                  AND r.clinician_id = a.clinician_id \
                  AND r.day_of_week = extract(isodow FROM local.d) \
             WHERE a.organization_id = $1 AND a.clinician_id = $2 \
               AND local.d >= a.effective_from \
               AND (a.effective_to IS NULL OR local.d <= a.effective_to) \
               AND (r.service_codes IS NULL OR $5 = ANY (r.service_codes)) \
               AND ((local.d + r.start_time) AT TIME ZONE a.time_zone) <= $3 \
               AND ((local.d + r.end_time) AT TIME ZONE a.time_zone) >= $4)",
    )
    .bind(org)
    .bind(clinician)
    .bind(start)
    .bind(end)
    .bind(service_code)
    .fetch_one(tx.conn())
    .await
}

/// The buffer the clinician keeps after appointments (0 without availability set).
pub async fn buffer_minutes(tx: &mut TenantTx, clinician: UserId) -> Result<i32, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar(
        "SELECT coalesce((SELECT buffer_minutes FROM clinician_availability \
                          WHERE organization_id = $1 AND clinician_id = $2), 0)",
    )
    .bind(org)
    .bind(clinician)
    .fetch_one(tx.conn())
    .await
}

/// Takes the transaction-scoped advisory locks of a booking: `keys` in ascending order, so two
/// bookings that share a clinician or a patient queue instead of deadlocking.
pub(crate) async fn lock_keys(tx: &mut TenantTx, keys: &[i64]) -> Result<(), sqlx::Error> {
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

/// Inserts an appointment. An overlap fails with an exclusion violation.
pub(crate) async fn insert(
    tx: &mut TenantTx,
    _may: &Schedule,
    new: &NewAppointment,
) -> Result<AppointmentRow, sqlx::Error> {
    let org = tx.organization_id();
    let busy_until = new.end + Duration::minutes(i64::from(new.buffer_minutes));
    let status = if new.hold_expires_at.is_some() {
        "HELD"
    } else {
        "BOOKED"
    };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO calendar_entries (organization_id, id, kind, clinician_id, patient_id, \
             service_code, start_at, end_at, busy_until, status, hold_expires_at, \
             authorization_id, session_id, concurrent_with_id, availability_overridden, created_by) \
         VALUES ($1, $2, 'APPOINTMENT', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(new.id)
    .bind(new.clinician_id)
    .bind(new.patient_id)
    .bind(&new.service_code)
    .bind(new.start)
    .bind(new.end)
    .bind(busy_until)
    .bind(status)
    .bind(new.hold_expires_at)
    .bind(new.units.map(|u| u.0))
    .bind(new.units.map(|u| u.1))
    .bind(new.concurrent_with)
    .bind(new.overridden)
    .bind(new.created_by)
    .fetch_one(tx.conn())
    .await
}

/// Appointment `id` of the transaction's organization (locked until the transaction ends when
/// `lock`).
pub async fn find(
    tx: &mut TenantTx,
    _may: &PatientUse,
    id: AppointmentId,
    lock: bool,
) -> Result<Option<AppointmentRow>, sqlx::Error> {
    let org = tx.organization_id();
    let suffix = if lock { " FOR UPDATE" } else { "" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM calendar_entries \
         WHERE organization_id = $1 AND id = $2 AND kind = 'APPOINTMENT'{suffix}"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// Which organization holds appointment `id`, if any.
pub async fn organization_of(
    tx: &mut TenantTx,
    id: AppointmentId,
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.calendar_entry_organization($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}

/// Moves a locked appointment from one of `from` to `to` (with `reason`, for cancellations),
/// bumping its version; `session` replaces its session when given (a reschedule's new one).
pub(crate) async fn set_status(
    tx: &mut TenantTx,
    id: AppointmentId,
    to: &str,
    reason: Option<&str>,
) -> Result<AppointmentRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE calendar_entries SET status = $3, reason = coalesce($4, reason), \
             hold_expires_at = CASE WHEN $3 = 'HELD' THEN hold_expires_at END, \
             version = version + 1, updated_at = now() \
         WHERE organization_id = $1 AND id = $2 AND kind = 'APPOINTMENT' RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(to)
    .bind(reason)
    .fetch_one(tx.conn())
    .await
}

/// A reschedule: new times (and clinician, buffer, session), one UPDATE re-checked by the
/// exclusion constraints; `None` when `expected_version` is no longer the appointment's.
#[derive(Debug)]
pub struct Move {
    /// New start.
    pub start: DateTime<Utc>,
    /// New end.
    pub end: DateTime<Utc>,
    /// The clinician (maybe another).
    pub clinician_id: UserId,
    /// That clinician's buffer.
    pub buffer_minutes: i32,
    /// The session that now holds the units (a new one when units moved).
    pub session_id: Option<TherapySessionId>,
    /// Booked outside availability.
    pub overridden: bool,
}

/// Applies `change` to appointment `id` if its version is still `expected_version`.
pub(crate) async fn reschedule(
    tx: &mut TenantTx,
    id: AppointmentId,
    expected_version: i32,
    change: &Move,
) -> Result<Option<AppointmentRow>, sqlx::Error> {
    let org = tx.organization_id();
    let busy_until = change.end + Duration::minutes(i64::from(change.buffer_minutes));
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE calendar_entries SET start_at = $4, end_at = $5, busy_until = $6, \
             clinician_id = $7, session_id = $8, availability_overridden = $9, \
             version = version + 1, updated_at = now() \
         WHERE organization_id = $1 AND id = $2 AND kind = 'APPOINTMENT' AND version = $3 \
         RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(expected_version)
    .bind(change.start)
    .bind(change.end)
    .bind(busy_until)
    .bind(change.clinician_id)
    .bind(change.session_id)
    .bind(change.overridden)
    .fetch_optional(tx.conn())
    .await
}

/// The filter of a list.
#[derive(Debug, Default)]
pub struct Filter {
    /// One clinician's.
    pub clinician_id: Option<UserId>,
    /// One patient's.
    pub patient_id: Option<PatientId>,
    /// One status.
    pub status: Option<String>,
    /// Starting at or after.
    pub from: Option<DateTime<Utc>>,
    /// Starting before.
    pub to: Option<DateTime<Utc>>,
}

/// One page of the appointments the caller may list (a CLINICIAN: their own calendar and
/// their care-team patients'), and the total; one statement.
pub async fn list(
    tx: &mut TenantTx,
    may: &Schedule,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AppointmentRow>, i64), sqlx::Error> {
    let org = tx.organization_id();
    let mine = match may.scope() {
        CalendarScope::All => None,
        CalendarScope::ClinicianOf(user) => Some(user),
    };
    let filter_sql = "FROM calendar_entries e WHERE e.organization_id = $1 AND e.kind = 'APPOINTMENT' \
         AND ($2::uuid IS NULL OR e.clinician_id = $2 OR EXISTS (SELECT 1 FROM care_team_members c \
              WHERE c.organization_id = $1 AND c.patient_id = e.patient_id AND c.user_id = $2)) \
         AND ($3::uuid IS NULL OR e.clinician_id = $3) \
         AND ($4::uuid IS NULL OR e.patient_id = $4) \
         AND ($5::text IS NULL OR e.status = $5) \
         AND ($6::timestamptz IS NULL OR e.start_at >= $6) \
         AND ($7::timestamptz IS NULL OR e.start_at < $7)";
    let sql = super::page_query(COLUMNS, filter_sql, "start_at, id", 8);
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(mine)
        .bind(filter.clinician_id)
        .bind(filter.patient_id)
        .bind(filter.status.as_deref())
        .bind(filter.from)
        .bind(filter.to)
        .bind(limit)
        .bind(offset)
        .fetch_all(tx.conn())
        .await?;
    super::read_page(&rows)
}

/// Marks the appointment whose session `session` completed as FULFILLED (none: nothing).
pub async fn fulfil_for_session(
    tx: &mut TenantTx,
    session: TherapySessionId,
) -> Result<Option<AppointmentRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE calendar_entries SET status = 'FULFILLED', version = version + 1, updated_at = now() \
         WHERE organization_id = $1 AND session_id = $2 AND kind = 'APPOINTMENT' \
           AND status IN ('BOOKED', 'CHECKED_IN') RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(session)
    .fetch_optional(tx.conn())
    .await
}

/// Cancels the appointment whose session `session` was cancelled directly (`POST
/// /api/sessions/{id}/cancel`), so its time is free again (none: nothing).
pub async fn cancel_for_session(
    tx: &mut TenantTx,
    session: TherapySessionId,
    reason: &str,
) -> Result<Option<AppointmentRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE calendar_entries SET status = 'CANCELLED', reason = $3, hold_expires_at = NULL, \
             version = version + 1, updated_at = now() \
         WHERE organization_id = $1 AND session_id = $2 AND kind = 'APPOINTMENT' \
           AND status IN ('HELD', 'BOOKED', 'CHECKED_IN') RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(session)
    .bind(reason)
    .fetch_optional(tx.conn())
    .await
}

/// Releases the transaction's organization's holds past their expiry, in one statement: each
/// becomes CANCELLED ('hold expired'), its open session CANCELLED with a RELEASE ledger row,
/// its authorization's units given back, and one `APPOINTMENT_HOLD_EXPIRED` audit row. With
/// `only` = (clinician, patient), just the holds of that clinician or that patient (a booking
/// that is about to use their time). Returns (holds released, units given back).
pub async fn expire_holds(
    tx: &mut TenantTx,
    only: Option<(UserId, PatientId)>,
    trigger: &str,
) -> Result<(i64, i64), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "WITH expired AS ( \
             UPDATE calendar_entries e SET status = 'CANCELLED', reason = 'hold expired', \
                 hold_expires_at = NULL, version = e.version + 1, updated_at = now() \
             WHERE e.organization_id = $1 AND e.kind = 'APPOINTMENT' AND e.status = 'HELD' \
               AND e.hold_expires_at <= now() \
               AND ($2::uuid IS NULL OR e.clinician_id = $2 OR e.patient_id = $3) \
             RETURNING e.organization_id, e.id, e.patient_id, e.session_id), \
         sessions AS ( \
             UPDATE therapy_sessions s SET status = 'CANCELLED', cancel_reason = 'hold expired', \
                 cancelled_at = now(), updated_at = now() \
             FROM expired x \
             WHERE s.organization_id = x.organization_id AND s.id = x.session_id \
               AND s.status IN ('SCHEDULED', 'IN_PROGRESS') \
             RETURNING s.organization_id, s.id, s.authorization_id, s.reserved_units), \
         ledger AS ( \
             INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, user_id, reason) \
             SELECT organization_id, authorization_id, id, 'RELEASE', -reserved_units, NULL, 'hold expired' \
             FROM sessions), \
         released AS ( \
             UPDATE authorizations a SET used_units = a.used_units - g.units \
             FROM (SELECT organization_id, authorization_id, sum(reserved_units)::int AS units \
                   FROM sessions GROUP BY organization_id, authorization_id) g \
             WHERE a.organization_id = g.organization_id AND a.id = g.authorization_id), \
         audit AS ( \
             INSERT INTO audit_outbox (organization_id, id, occurred_at, user_id, role, action, \
                 entity_type, entity_id, patient_id, access_method, outcome, request_id, details) \
             SELECT organization_id, haven_units.uuid_v7(), now(), NULL, NULL, 'APPOINTMENT_HOLD_EXPIRED', \
                 'appointment', id::text, patient_id, 'system', 'success', NULL, \
                 jsonb_build_object('sessionId', session_id, 'trigger', $4::text) \
             FROM expired) \
         SELECT (SELECT count(*) FROM expired), \
                (SELECT coalesce(sum(reserved_units), 0)::bigint FROM sessions)",
    )
    .bind(org)
    .bind(only.map(|o| o.0))
    .bind(only.map(|o| o.1))
    .bind(trigger)
    .fetch_one(tx.conn())
    .await
}

/// Organizations with holds past their expiry, across tenants, through the narrow SECURITY
/// DEFINER look-up (ids only). `pool` is the runtime pool with no tenant set.
pub async fn organizations_with_expired_holds(
    pool: &sqlx::PgPool,
) -> Result<Vec<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.organizations_with_expired_holds(now())")
        .fetch_all(pool)
        .await
}
