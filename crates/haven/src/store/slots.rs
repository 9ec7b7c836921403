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

/// The statement, in the set of possible start times rather than in time itself: a slot of
/// `d` minutes starting at `s`, for a clinician with a buffer of `b` minutes, fits when
///
/// - `s` lies in a window of working hours `[ws, we]` with `s + d <= we` (its buffer may run
///   past the end of the hours, not into someone's appointment): `s ∈ [ws, we − d]`;
/// - `[s, s + d + b)` meets no busy range `[bs, be)` (active entries, their own buffers
///   included; never empty, the table checks `busy_until > start_at`): `s ∉ (bs − d − b, be)`.
///
/// So each clinician's possible starts are ONE multirange (the windows on each local date of
/// the search, in the clinician's zone, each shortened by `d`) minus ONE multirange (the busy
/// ranges, each widened by `d + b` to the left); slots are the grid points inside what remains.
/// One subtraction per clinician, whatever the number of days (it was one per window: 1,550
/// per search of 50 clinicians × 31 days, each against the clinician's whole busy time).
///
/// Busy time is read once per clinician, never by a scan of the table or of all of a
/// clinician's entries: appointments through the B-tree on `(organization_id, clinician_id,
/// start_at)`, bounded by the search's time (an appointment's busy time is at most 8 hours plus
/// a 4-hour buffer, so those starting from a day before the hours are all that can overlap
/// them), which carries the columns the search reads so that it is an index-only scan once the
/// table is vacuumed; blocks (any length) through the partial B-tree of active blocks.
///
/// Under row-level security PostgreSQL turns a condition into an index condition only when it
/// cannot leak: its operators are leakproof, and so is every function applied to a column of
/// another relation inside it. The range overlap `&&` is not leakproof, and neither is
/// timestamp arithmetic, so the time bounds are computed where the hours are aggregated
/// (`busy_from`, `busy_to`) and compared as plain columns: `e.start_at >= h.busy_from` is an
/// index condition, `e.start_at >= lower(h.open) - interval '1 day'` was only a filter after
/// reading every entry of the clinician. Set-returning functions run in the select list
/// (`ProjectSet`), not as `FROM` items that would each fill a tuplestore. Holds past their
/// expiry do not count (they are released at use). `limit + 1` rows tell whether the answer
/// was cut. Over 300,000 appointments a search of 50 clinicians × 31 days went from 1.4 s of
/// PostgreSQL CPU to ~20 ms (BENCHMARKS.md, the slot finder).
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
    SELECT w.clinician_id, w.buffer_minutes, \
           range_agg(tstzrange(w.ws, w.we - make_interval(mins => $6), '[]')) AS starts, \
           min(w.ws) AS hours_from, \
           min(w.ws) - interval '1 day' AS busy_from, \
           max(w.we) + make_interval(mins => w.buffer_minutes) AS busy_to \
    FROM windows w \
    WHERE w.we - make_interval(mins => $6) >= w.ws \
    GROUP BY w.clinician_id, w.buffer_minutes), \
free AS ( \
    SELECT h.clinician_id, unnest(h.starts - coalesce(b.taken, '{}'::tstzmultirange)) AS r \
    FROM hours h \
    CROSS JOIN LATERAL ( \
        SELECT range_agg(tstzrange(lower(x.busy) - make_interval(mins => $6 + h.buffer_minutes), \
                                   upper(x.busy), '()')) AS taken \
        FROM ( \
            SELECT e.busy FROM calendar_entries e \
            WHERE e.organization_id = $1 AND e.clinician_id = h.clinician_id \
              AND e.kind = 'APPOINTMENT' AND e.status IN ('HELD', 'BOOKED', 'CHECKED_IN') \
              AND e.start_at >= h.busy_from AND e.start_at < h.busy_to \
              AND NOT (e.status = 'HELD' AND e.hold_expires_at <= now()) \
            UNION ALL \
            SELECT e.busy FROM calendar_entries e \
            WHERE e.organization_id = $1 AND e.clinician_id = h.clinician_id \
              AND e.kind = 'BLOCK' AND e.status = 'ACTIVE' \
              AND e.start_at < h.busy_to \
              AND e.busy && tstzrange(h.hours_from, h.busy_to, '[)')) x) b), \
grid AS ( \
    SELECT f.clinician_id, f.r, \
           generate_series(to_timestamp(ceil(extract(epoch FROM lower(f.r)) / ($7 * 60)) * ($7 * 60)), \
                           upper(f.r), make_interval(mins => $7)) AS s \
    FROM free f) \
SELECT g.clinician_id, g.s AS start_at, g.s + make_interval(mins => $6) AS end_at \
FROM grid g \
WHERE g.s <@ g.r \
"
    };
}

/// The free slots, unordered and uncut (see [`FIND`]).
pub(crate) const FREE: &str = free_slots!();

/// The slot finder's statement (public so that a test can `EXPLAIN` exactly what runs).
pub const FIND: &str = concat!(free_slots!(), "ORDER BY g.s, g.clinician_id LIMIT $8 + 1");

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
