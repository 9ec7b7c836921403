//! Weekly series of appointments, as stored: the occurrences are generated, checked, written
//! and cancelled set-based, in a fixed number of statements whatever their count.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sqlx::FromRow;

use super::appointments::{AppointmentRow, COLUMNS};
use crate::db::TenantTx;
use crate::ids::{
    AppointmentId, AuthorizationId, OrganizationId, PatientId, SeriesId, TherapySessionId, UserId,
};
use crate::policy::capability::Schedule;

/// The recurrence to expand, in local wall time.
#[derive(Debug)]
pub struct Recurrence<'a> {
    /// The IANA zone the wall times are in.
    pub time_zone: &'a str,
    /// First local date considered.
    pub first: NaiveDate,
    /// Last local date considered.
    pub last: NaiveDate,
    /// Local start time of every occurrence.
    pub at: NaiveTime,
    /// ISO days of the week (1 = Monday).
    pub days: Vec<i32>,
    /// Every `interval` weeks, counted from the week of `first`.
    pub interval: i32,
    /// At most this many occurrences.
    pub limit: i64,
    /// Minutes each lasts.
    pub minutes: i32,
}

/// The authorization's period (UTC dates, as the ledger counts a session's day).
#[derive(Debug, Clone, Copy)]
pub struct Period {
    /// First day covered.
    pub start: NaiveDate,
    /// Last day covered.
    pub end: NaiveDate,
}

/// One generated occurrence and why it cannot be booked, if it cannot.
#[derive(Debug, Clone, FromRow)]
pub struct Occurrence {
    /// Its start.
    pub start_at: DateTime<Utc>,
    /// Whether the local wall time exists on that date (not in a DST gap).
    pub exists_locally: bool,
    /// `clinician`, `patient`, `outside_availability`, `after_authorization_end`,
    /// `before_authorization_start`, or none: free.
    pub reason: Option<String>,
    /// The clinician's buffer in force.
    pub buffer_minutes: i32,
}

/// Expands `recurrence` for `clinician` and `patient` and classifies every occurrence against
/// the calendar (the exclusion constraints' ranges, buffers included), the clinician's
/// availability and the authorization's `period`: one statement.
pub async fn plan(
    tx: &mut TenantTx,
    _may: &Schedule,
    clinician: UserId,
    patient: PatientId,
    recurrence: &Recurrence<'_>,
    service_code: &str,
    period: Option<Period>,
) -> Result<Vec<Occurrence>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "WITH buf AS ( \
             SELECT coalesce((SELECT buffer_minutes FROM clinician_availability \
                              WHERE organization_id = $1 AND clinician_id = $2), 0) AS b), \
         days AS ( \
             SELECT g::date AS day FROM generate_series($4::date, $5::date, interval '1 day') g \
             WHERE extract(isodow FROM g)::int = ANY ($6::int[]) \
               AND ((g::date - date_trunc('week', $4::date::timestamp)::date) / 7) % $7 = 0 \
             ORDER BY g LIMIT $8), \
         occ AS ( \
             SELECT (d.day + $9::time) AT TIME ZONE $10 AS start_at, \
                    (((d.day + $9::time) AT TIME ZONE $10) AT TIME ZONE $10) = d.day + $9::time \
                        AS exists_locally \
             FROM days d) \
         SELECT o.start_at, o.exists_locally, buf.b AS buffer_minutes, \
             CASE \
             WHEN EXISTS (SELECT 1 FROM calendar_entries e \
                          WHERE e.organization_id = $1 AND e.clinician_id = $2 \
                            AND e.status IN ('HELD', 'BOOKED', 'CHECKED_IN', 'ACTIVE') \
                            AND e.busy && tstzrange(o.start_at, \
                                o.start_at + ($11 + buf.b) * interval '1 minute', '[)')) \
                 THEN 'clinician' \
             WHEN EXISTS (SELECT 1 FROM calendar_entries e \
                          WHERE e.organization_id = $1 AND e.patient_id = $3 \
                            AND e.kind = 'APPOINTMENT' AND e.concurrent_with_id IS NULL \
                            AND e.status IN ('HELD', 'BOOKED', 'CHECKED_IN') \
                            AND e.during && tstzrange(o.start_at, \
                                o.start_at + $11 * interval '1 minute', '[)')) \
                 THEN 'patient' \
             WHEN NOT EXISTS ( \
                 SELECT 1 FROM clinician_availability a \
                 CROSS JOIN LATERAL (SELECT (o.start_at AT TIME ZONE a.time_zone)::date AS d) l \
                 JOIN availability_rules r ON r.organization_id = a.organization_id \
                      AND r.clinician_id = a.clinician_id \
                      AND r.day_of_week = extract(isodow FROM l.d) \
                 WHERE a.organization_id = $1 AND a.clinician_id = $2 \
                   AND l.d >= a.effective_from \
                   AND (a.effective_to IS NULL OR l.d <= a.effective_to) \
                   AND (r.service_codes IS NULL OR $12 = ANY (r.service_codes)) \
                   AND ((l.d + r.start_time) AT TIME ZONE a.time_zone) <= o.start_at \
                   AND ((l.d + r.end_time) AT TIME ZONE a.time_zone) \
                       >= o.start_at + $11 * interval '1 minute') \
                 THEN 'outside_availability' \
             WHEN $13::date IS NOT NULL AND (o.start_at AT TIME ZONE 'UTC')::date > $13 \
                 THEN 'after_authorization_end' \
             WHEN $14::date IS NOT NULL AND (o.start_at AT TIME ZONE 'UTC')::date < $14 \
                 THEN 'before_authorization_start' \
             END AS reason \
         FROM occ o, buf ORDER BY o.start_at",
    )
    .bind(org)
    .bind(clinician)
    .bind(patient)
    .bind(recurrence.first)
    .bind(recurrence.last)
    .bind(&recurrence.days)
    .bind(recurrence.interval)
    .bind(recurrence.limit)
    .bind(recurrence.at)
    .bind(recurrence.time_zone)
    .bind(recurrence.minutes)
    .bind(service_code)
    .bind(period.map(|p| p.end))
    .bind(period.map(|p| p.start))
    .fetch_all(tx.conn())
    .await
}

/// A series to write.
#[derive(Debug)]
pub struct NewSeries<'a> {
    /// Its id.
    pub id: SeriesId,
    /// Whose.
    pub patient_id: PatientId,
    /// With whom.
    pub clinician_id: UserId,
    /// The service.
    pub service_code: &'a str,
    /// Minutes each occurrence lasts.
    pub minutes: i32,
    /// The clinician's buffer.
    pub buffer_minutes: i32,
    /// The occurrences to book: (appointment, start, session).
    pub occurrences: Vec<(AppointmentId, DateTime<Utc>, TherapySessionId)>,
    /// The authorization (units already taken for all), units per occurrence and its minutes
    /// per unit.
    pub units: Option<(AuthorizationId, i32, i32)>,
    /// Who books.
    pub created_by: UserId,
}

/// Writes the series, its BOOKED appointments and, with units, one SCHEDULED session with its
/// RESERVE ledger row per appointment: one statement. An overlap fails with an exclusion
/// violation (nothing written).
pub(crate) async fn insert(
    tx: &mut TenantTx,
    _may: &Schedule,
    new: &NewSeries<'_>,
) -> Result<Vec<AppointmentRow>, sqlx::Error> {
    let org = tx.organization_id();
    let ids: Vec<AppointmentId> = new.occurrences.iter().map(|o| o.0).collect();
    let starts: Vec<DateTime<Utc>> = new.occurrences.iter().map(|o| o.1).collect();
    let sessions: Vec<TherapySessionId> = new.occurrences.iter().map(|o| o.2).collect();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH occ AS ( \
             SELECT * FROM unnest($4::uuid[], $5::timestamptz[], $6::uuid[]) AS o(id, start_at, session_id)), \
         series AS ( \
             INSERT INTO appointment_series (organization_id, id, patient_id, clinician_id, created_by) \
             VALUES ($1, $2, $3, $7, $8) RETURNING id), \
         sess AS ( \
             INSERT INTO therapy_sessions (organization_id, id, authorization_id, patient_id, \
                 clinician_id, start_time, reserved_units, unit_minutes, created_by) \
             SELECT $1, o.session_id, $9, $3, $7, o.start_at, $10, $11, $8 \
             FROM occ o WHERE $9::uuid IS NOT NULL \
             RETURNING id, authorization_id, reserved_units), \
         ledger AS ( \
             INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, user_id, reason) \
             SELECT $1, authorization_id, id, 'RESERVE', reserved_units, $8, 'session reserved' FROM sess), \
         appts AS ( \
             INSERT INTO calendar_entries (organization_id, id, kind, clinician_id, patient_id, \
                 service_code, start_at, end_at, busy_until, status, authorization_id, session_id, \
                 series_id, created_by) \
             SELECT $1, o.id, 'APPOINTMENT', $7, $3, $12, o.start_at, \
                 o.start_at + $13 * interval '1 minute', \
                 o.start_at + ($13 + $14) * interval '1 minute', 'BOOKED', $9, \
                 CASE WHEN $9::uuid IS NULL THEN NULL ELSE o.session_id END, s.id, $8 \
             FROM occ o, series s RETURNING {COLUMNS}) \
         SELECT {COLUMNS} FROM appts ORDER BY start_at"
    )))
    .bind(org)
    .bind(new.id)
    .bind(new.patient_id)
    .bind(&ids)
    .bind(&starts)
    .bind(&sessions)
    .bind(new.clinician_id)
    .bind(new.created_by)
    .bind(new.units.map(|u| u.0))
    .bind(new.units.map(|u| u.1))
    .bind(new.units.map(|u| u.2))
    .bind(new.service_code)
    .bind(new.minutes)
    .bind(new.buffer_minutes)
    .fetch_all(tx.conn())
    .await
}

/// A series row.
#[derive(Debug, Clone, FromRow)]
pub struct SeriesRow {
    /// The series.
    pub id: SeriesId,
    /// Whose.
    pub patient_id: PatientId,
    /// With whom.
    pub clinician_id: UserId,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Series `id` of the transaction's organization, locked until the transaction ends.
pub async fn lock(
    tx: &mut TenantTx,
    _may: &Schedule,
    id: SeriesId,
) -> Result<Option<SeriesRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "SELECT id, patient_id, clinician_id, created_at FROM appointment_series \
         WHERE organization_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// Which organization holds series `id`, if any.
pub async fn organization_of(
    tx: &mut TenantTx,
    id: SeriesId,
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.appointment_series_organization($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}

/// One cancelled appointment of a series.
#[derive(Debug, Clone, FromRow)]
pub struct Cancelled {
    /// The appointment.
    pub id: AppointmentId,
    /// Its start.
    pub start_at: DateTime<Utc>,
    /// Its session, if it held units.
    pub session_id: Option<TherapySessionId>,
    /// Units given back.
    pub released_units: i32,
}

/// Cancels the HELD and BOOKED appointments of series `id` starting at or after `from`: each
/// CANCELLED with `reason`, its SCHEDULED session CANCELLED with a RELEASE ledger row, and the
/// units given back to each authorization; one statement.
pub(crate) async fn cancel(
    tx: &mut TenantTx,
    _may: &Schedule,
    id: SeriesId,
    from: DateTime<Utc>,
    reason: &str,
    user: UserId,
) -> Result<Vec<Cancelled>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "WITH gone AS ( \
             UPDATE calendar_entries e SET status = 'CANCELLED', reason = $4, \
                 hold_expires_at = NULL, version = e.version + 1, updated_at = now() \
             WHERE e.organization_id = $1 AND e.series_id = $2 AND e.kind = 'APPOINTMENT' \
               AND e.status IN ('HELD', 'BOOKED') AND e.start_at >= $3 \
             RETURNING e.id, e.start_at, e.session_id), \
         sessions AS ( \
             UPDATE therapy_sessions s SET status = 'CANCELLED', cancel_reason = $4, \
                 cancelled_at = now(), updated_at = now() \
             FROM gone g \
             WHERE s.organization_id = $1 AND s.id = g.session_id AND s.status = 'SCHEDULED' \
             RETURNING s.id, s.authorization_id, s.reserved_units), \
         ledger AS ( \
             INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, user_id, reason) \
             SELECT $1, authorization_id, id, 'RELEASE', -reserved_units, $5, 'series cancelled' \
             FROM sessions), \
         released AS ( \
             UPDATE authorizations a SET used_units = a.used_units - g.units \
             FROM (SELECT authorization_id, sum(reserved_units)::int AS units \
                   FROM sessions GROUP BY authorization_id) g \
             WHERE a.organization_id = $1 AND a.id = g.authorization_id) \
         SELECT g.id, g.start_at, g.session_id, coalesce(s.reserved_units, 0) AS released_units \
         FROM gone g LEFT JOIN sessions s ON s.id = g.session_id ORDER BY g.start_at",
    )
    .bind(org)
    .bind(id)
    .bind(from)
    .bind(reason)
    .bind(user)
    .fetch_all(tx.conn())
    .await
}

/// The instant local date `day` starts in the organization's time zone (`None`: now).
pub async fn from_instant(
    tx: &mut TenantTx,
    day: Option<NaiveDate>,
) -> Result<DateTime<Utc>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar(
        "SELECT coalesce(($2::date::timestamp AT TIME ZONE o.time_zone), now()) \
         FROM organizations o WHERE o.id = $1",
    )
    .bind(org)
    .bind(day)
    .fetch_one(tx.conn())
    .await
}
