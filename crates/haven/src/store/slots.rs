//! Free slots: every clinician's availability (weekly wall-time rules turned into instants in
//! the clinician's zone, date by date), minus time off and busy time including buffers, on
//! the granularity grid — in ONE statement whatever the number of clinicians or days.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::db::TenantTx;
use crate::ids::UserId;
use crate::policy::capability::FindSlots;

/// A free slot.
#[derive(Debug, Clone, FromRow)]
pub struct SlotRow {
    /// Whose.
    pub clinician_id: UserId,
    /// Start.
    pub start_at: DateTime<Utc>,
    /// End (exclusive).
    pub end_at: DateTime<Utc>,
}

/// What to search.
#[derive(Debug)]
pub struct SlotQuery {
    /// These clinicians (`None`: every active clinician with availability).
    pub clinicians: Option<Vec<UserId>>,
    /// Hours for this service only (rules without codes are for any).
    pub service_code: Option<String>,
    /// The slot's length.
    pub duration_minutes: i32,
    /// Window start.
    pub from: DateTime<Utc>,
    /// Window end.
    pub to: DateTime<Utc>,
    /// Slots start on multiples of this many minutes (UTC epoch grid, which is the local grid
    /// in every zone whose offset is a multiple of it).
    pub granularity_minutes: i32,
    /// At most this many.
    pub limit: i64,
}

/// The statement. Availability becomes ranges: each clinician's windows (rules on each local
/// date of the search, in the clinician's zone) are merged into one multirange. Busy time is
/// read once per clinician, as one multirange of the active entries (buffers included) around
/// the search, never by a scan of the table: appointments through the B-tree on
/// `(organization_id, clinician_id, start_at)` (an appointment's busy time is at most 8 hours
/// plus a 4-hour buffer, so those starting from a day before the search are all that can
/// overlap it), blocks (any length) through the clinician exclusion constraint's GiST index.
/// Why not the GiST index for appointments too: under row-level security PostgreSQL uses only
/// leakproof operators as index conditions, and the range overlap `&&` is not leakproof, so the
/// GiST scan would be bounded by the clinician alone; timestamp comparisons are leakproof. Each span of working hours, extended by the clinician's buffer (a slot's buffer may
/// run past the end of the hours, not into someone's appointment), minus the busy time leaves
/// free ranges; a slot starts on the grid in a free range and ends, with its buffer, inside it.
/// Holds past their expiry do not count (they are released at use). `limit + 1` rows tell
/// whether the answer was cut.
///
/// `$1` organization, `$2` clinicians (`NULL`: all), `$3` service code (`NULL`: any), `$4`/`$5`
/// the window, `$6` duration, `$7` granularity (both in minutes). The body without its order
/// and limit is [`FREE`], which the waitlist's matching wraps, so both searches share one
/// definition of "free".
macro_rules! free_slots {
    () => {
        "\
WITH av AS ( \
    SELECT a.clinician_id, a.time_zone, a.buffer_minutes, a.effective_from, a.effective_to \
    FROM clinician_availability a \
    JOIN users u ON u.organization_id = a.organization_id AND u.id = a.clinician_id \
         AND u.role = 'CLINICIAN' AND NOT u.disabled \
    WHERE a.organization_id = $1 AND ($2::uuid[] IS NULL OR a.clinician_id = ANY ($2))), \
windows AS ( \
    SELECT av.clinician_id, av.buffer_minutes, \
           greatest((d.day::date + r.start_time) AT TIME ZONE av.time_zone, $4) AS ws, \
           least((d.day::date + r.end_time) AT TIME ZONE av.time_zone, $5) AS we \
    FROM av \
    CROSS JOIN LATERAL generate_series(($4 AT TIME ZONE av.time_zone)::date::timestamp, \
                                       ($5 AT TIME ZONE av.time_zone)::date::timestamp, \
                                       interval '1 day') AS d(day) \
    JOIN availability_rules r ON r.organization_id = $1 AND r.clinician_id = av.clinician_id \
         AND r.day_of_week = extract(isodow FROM d.day) \
    WHERE d.day::date >= av.effective_from \
      AND (av.effective_to IS NULL OR d.day::date <= av.effective_to) \
      AND ($3::text IS NULL OR r.service_codes IS NULL OR $3 = ANY (r.service_codes))), \
hours AS ( \
    SELECT w.clinician_id, w.buffer_minutes, range_agg(tstzrange(w.ws, w.we, '[)')) AS open \
    FROM windows w \
    WHERE w.we > w.ws \
    GROUP BY w.clinician_id, w.buffer_minutes), \
free AS ( \
    SELECT h.clinician_id, h.buffer_minutes, f.span \
    FROM hours h \
    CROSS JOIN LATERAL ( \
        SELECT range_agg(x.busy) AS taken FROM ( \
            SELECT e.busy FROM calendar_entries e \
            WHERE e.organization_id = $1 AND e.clinician_id = h.clinician_id \
              AND e.kind = 'APPOINTMENT' AND e.status IN ('HELD', 'BOOKED', 'CHECKED_IN') \
              AND e.start_at >= lower(h.open) - interval '1 day' \
              AND e.start_at < upper(h.open) + make_interval(mins => h.buffer_minutes) \
              AND NOT (e.status = 'HELD' AND e.hold_expires_at <= now()) \
            UNION ALL \
            SELECT e.busy FROM calendar_entries e \
            WHERE e.organization_id = $1 AND e.clinician_id = h.clinician_id \
              AND e.kind = 'BLOCK' AND e.status = 'ACTIVE' \
              AND e.busy && tstzrange(lower(h.open), \
                                      upper(h.open) + make_interval(mins => h.buffer_minutes), \
                                      '[)')) x) b \
    CROSS JOIN LATERAL unnest(h.open) AS o(span) \
    CROSS JOIN LATERAL unnest( \
        tstzmultirange(tstzrange(lower(o.span), \
                                 upper(o.span) + make_interval(mins => h.buffer_minutes), '[)')) \
        - coalesce(b.taken, '{}'::tstzmultirange)) AS f(span)) \
SELECT f.clinician_id, s AS start_at, s + make_interval(mins => $6) AS end_at \
FROM free f \
CROSS JOIN LATERAL generate_series( \
    to_timestamp(ceil(extract(epoch FROM lower(f.span)) / ($7 * 60)) * ($7 * 60)), \
    upper(f.span) - make_interval(mins => $6 + f.buffer_minutes), \
    make_interval(mins => $7)) AS s \
"
    };
}

/// The free slots, unordered and uncut (see [`FIND`]).
pub(crate) const FREE: &str = free_slots!();

/// The slot finder's statement (public so that a test can `EXPLAIN` exactly what runs).
pub const FIND: &str = concat!(free_slots!(), "ORDER BY s, f.clinician_id LIMIT $8 + 1");

/// The free slots (at most `limit`), and whether there were more.
pub async fn find(
    tx: &mut TenantTx,
    _may: &FindSlots,
    query: &SlotQuery,
) -> Result<(Vec<SlotRow>, bool), sqlx::Error> {
    let org = tx.organization_id();
    let mut rows: Vec<SlotRow> = sqlx::query_as(FIND)
        .bind(org)
        .bind(query.clinicians.as_deref())
        .bind(query.service_code.as_deref())
        .bind(query.from)
        .bind(query.to)
        .bind(query.duration_minutes)
        .bind(query.granularity_minutes)
        .bind(query.limit)
        .fetch_all(tx.conn())
        .await?;
    let truncated = i64::try_from(rows.len()).unwrap_or(i64::MAX) > query.limit;
    rows.truncate(usize::try_from(query.limit).unwrap_or(0));
    Ok((rows, truncated))
}
