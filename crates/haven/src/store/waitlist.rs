//! Waitlist entries, as stored, and matching in both directions. Each search is ONE statement
//! whatever the number of entries, clinicians or days: slots for an entry wrap the slot
//! finder's statement ([`super::slots::FREE`]) with the entry's preferences; entries for a
//! freed slot are ranked (URGENT first, then longest waiting) by the partial index
//! `waitlist_entries_rank`, the preferences checked on the way.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sqlx::FromRow;

use crate::db::TenantTx;
use crate::ids::{AuthorizationId, OrganizationId, PatientId, UserId, WaitlistEntryId};
use crate::policy::capability::{FindSlots, ManageWaitlist, OfPatient, PatientUse, Scope};
use crate::store::slots::{FREE, SlotRow};

/// How long an entry waits before it expires (unless renewed).
pub const ENTRY_DAYS: i64 = 90;

/// A waitlist entry row (notes still encrypted).
#[derive(Debug, Clone, FromRow)]
pub struct EntryRow {
    /// The entry.
    pub id: WaitlistEntryId,
    /// Whose.
    pub patient_id: PatientId,
    /// For which service.
    pub service_code: String,
    /// The authorization an offer reserves units of.
    pub authorization_id: Option<AuthorizationId>,
    /// Preferred clinicians (empty: any).
    pub clinician_ids: Vec<UserId>,
    /// Preferred ISO days of week, 1 = Monday (empty: any).
    pub preferred_days: Vec<i16>,
    /// Starts of the preferred local time windows (parallel to `window_ends`).
    pub window_starts: Vec<NaiveTime>,
    /// Ends of the preferred local time windows.
    pub window_ends: Vec<NaiveTime>,
    /// Not before this local date.
    pub earliest_date: Option<NaiveDate>,
    /// Not after this local date.
    pub latest_date: Option<NaiveDate>,
    /// URGENT or ROUTINE.
    pub priority: String,
    /// ACTIVE, BOOKED, REMOVED or EXPIRED.
    pub status: String,
    /// The encrypted notes.
    pub notes: Option<Vec<u8>>,
    /// Waiting since (the ranking's "longest waiting").
    pub waiting_since: DateTime<Utc>,
    /// When it expires unless renewed.
    pub expires_at: DateTime<Utc>,
    /// Bumped by every change.
    pub version: i32,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl OfPatient for EntryRow {
    const ENTITY: &'static str = "waitlist_entry";
    fn entity_id(&self) -> uuid::Uuid {
        self.id.as_uuid()
    }
    fn patient_id(&self) -> PatientId {
        self.patient_id
    }
}

impl EntryRow {
    /// Whether the entry still waits: ACTIVE and not past its expiry.
    #[must_use]
    pub fn is_waiting(&self, now: DateTime<Utc>) -> bool {
        self.status == "ACTIVE" && self.expires_at > now
    }
}

pub(crate) const COLUMNS: &str = "id, patient_id, service_code, authorization_id, clinician_ids, \
     preferred_days, window_starts, window_ends, earliest_date, latest_date, priority, status, \
     notes, waiting_since, expires_at, version, created_at, updated_at";

/// The preferences of an entry, as written.
#[derive(Debug, Clone)]
pub struct Preferences {
    /// Preferred clinicians (empty: any).
    pub clinician_ids: Vec<UserId>,
    /// ISO days, 1 = Monday (empty: any).
    pub preferred_days: Vec<i16>,
    /// Local windows `(start, end)`, end after start (empty: any time).
    pub windows: Vec<(NaiveTime, NaiveTime)>,
    /// Not before.
    pub earliest_date: Option<NaiveDate>,
    /// Not after.
    pub latest_date: Option<NaiveDate>,
    /// URGENT or ROUTINE.
    pub priority: String,
    /// The authorization an offer reserves units of.
    pub authorization_id: Option<AuthorizationId>,
}

impl Preferences {
    fn starts(&self) -> Vec<NaiveTime> {
        self.windows.iter().map(|w| w.0).collect()
    }
    fn ends(&self) -> Vec<NaiveTime> {
        self.windows.iter().map(|w| w.1).collect()
    }
}

/// A new entry.
#[derive(Debug)]
pub struct NewEntry {
    /// Its id (also the AAD of its notes).
    pub id: WaitlistEntryId,
    /// Whose.
    pub patient_id: PatientId,
    /// Which service.
    pub service_code: String,
    /// What the patient prefers.
    pub preferences: Preferences,
    /// Encrypted notes.
    pub notes: Option<Vec<u8>>,
    /// Who added it.
    pub created_by: UserId,
}

/// The unique index that keeps one ACTIVE entry per patient and service.
pub const ONE_ACTIVE: &str = "waitlist_entries_one_active";

/// Marks the entries of `patient` for `service_code` past their expiry EXPIRED (so the partial
/// unique index admits a new one), then inserts `new`. A second active entry fails with a
/// unique violation on [`ONE_ACTIVE`]. (Two statements: within one, the unique check could
/// run before the expiry.)
pub async fn insert(
    tx: &mut TenantTx,
    _may: &ManageWaitlist,
    new: &NewEntry,
) -> Result<EntryRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE waitlist_entries SET status = 'EXPIRED', version = version + 1, updated_at = now() \
         WHERE organization_id = $1 AND patient_id = $2 AND service_code = $3 \
           AND status = 'ACTIVE' AND expires_at <= now()",
    )
    .bind(org)
    .bind(new.patient_id)
    .bind(&new.service_code)
    .execute(tx.conn())
    .await?;
    let p = &new.preferences;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO waitlist_entries (organization_id, id, patient_id, service_code, \
             authorization_id, clinician_ids, preferred_days, window_starts, window_ends, \
             earliest_date, latest_date, priority, notes, expires_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                 now() + make_interval(days => {ENTRY_DAYS}), $14) \
         RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(new.id)
    .bind(new.patient_id)
    .bind(&new.service_code)
    .bind(p.authorization_id)
    .bind(&p.clinician_ids)
    .bind(&p.preferred_days)
    .bind(p.starts())
    .bind(p.ends())
    .bind(p.earliest_date)
    .bind(p.latest_date)
    .bind(&p.priority)
    .bind(new.notes.as_deref())
    .bind(new.created_by)
    .fetch_one(tx.conn())
    .await
}

/// Entry `id` of the transaction's organization (locked until the transaction ends when
/// `lock`).
pub async fn find(
    tx: &mut TenantTx,
    _may: &PatientUse,
    id: WaitlistEntryId,
    lock: bool,
) -> Result<Option<EntryRow>, sqlx::Error> {
    let org = tx.organization_id();
    let suffix = if lock { " FOR UPDATE" } else { "" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM waitlist_entries WHERE organization_id = $1 AND id = $2{suffix}"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// Which organization holds entry `id`, if any.
pub async fn organization_of(
    tx: &mut TenantTx,
    id: WaitlistEntryId,
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.waitlist_entry_organization($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}

/// Rewrites a locked entry's preferences and notes (renewing its 90 days when `renew`).
pub async fn update(
    tx: &mut TenantTx,
    _may: &ManageWaitlist,
    id: WaitlistEntryId,
    preferences: &Preferences,
    notes: Option<&[u8]>,
    renew: bool,
) -> Result<EntryRow, sqlx::Error> {
    let org = tx.organization_id();
    let p = preferences;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE waitlist_entries SET authorization_id = $3, clinician_ids = $4, \
             preferred_days = $5, window_starts = $6, window_ends = $7, earliest_date = $8, \
             latest_date = $9, priority = $10, notes = $11, \
             expires_at = CASE WHEN $12 THEN now() + make_interval(days => {ENTRY_DAYS}) \
                               ELSE expires_at END, \
             version = version + 1, updated_at = now() \
         WHERE organization_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(p.authorization_id)
    .bind(&p.clinician_ids)
    .bind(&p.preferred_days)
    .bind(p.starts())
    .bind(p.ends())
    .bind(p.earliest_date)
    .bind(p.latest_date)
    .bind(&p.priority)
    .bind(notes)
    .bind(renew)
    .fetch_one(tx.conn())
    .await
}

/// Moves a locked entry to `status` (REMOVED, BOOKED).
pub async fn set_status(
    tx: &mut TenantTx,
    _may: &ManageWaitlist,
    id: WaitlistEntryId,
    status: &str,
) -> Result<EntryRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE waitlist_entries SET status = $3, version = version + 1, updated_at = now() \
         WHERE organization_id = $1 AND id = $2 RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(status)
    .fetch_one(tx.conn())
    .await
}

/// The filter of a list.
#[derive(Debug, Default)]
pub struct Filter {
    /// One status (an ACTIVE entry past its expiry counts as EXPIRED).
    pub status: Option<String>,
    /// One service.
    pub service_code: Option<String>,
    /// Entries that name this clinician, or name none.
    pub clinician_id: Option<UserId>,
    /// One priority.
    pub priority: Option<String>,
}

/// The care-team restriction of a scope, as a bindable user id.
fn care_team_of(scope: Scope) -> Option<UserId> {
    match scope {
        Scope::All => None,
        Scope::CareTeamOf(user) => Some(user),
    }
}

/// The status an entry shows: ACTIVE past its expiry is EXPIRED even before the sweeper ran.
const SHOWN_STATUS: &str =
    "CASE WHEN w.status = 'ACTIVE' AND w.expires_at <= now() THEN 'EXPIRED' ELSE w.status END";

/// One page of the entries the caller may list (a CLINICIAN: their care-team patients'), in
/// ranking order (URGENT first, then longest waiting), and the total; one statement.
pub async fn list(
    tx: &mut TenantTx,
    may: &ManageWaitlist,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<EntryRow>, i64), sqlx::Error> {
    let org = tx.organization_id();
    let filter_sql = format!(
        "FROM waitlist_entries w WHERE w.organization_id = $1 \
         AND ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM care_team_members c \
              WHERE c.organization_id = $1 AND c.patient_id = w.patient_id AND c.user_id = $2)) \
         AND ($3::text IS NULL OR {SHOWN_STATUS} = $3) \
         AND ($4::text IS NULL OR w.service_code = $4) \
         AND ($5::uuid IS NULL OR cardinality(w.clinician_ids) = 0 OR $5 = ANY (w.clinician_ids)) \
         AND ($6::text IS NULL OR w.priority = $6)"
    );
    let columns = format!(
        "w.id, w.patient_id, w.service_code, w.authorization_id, w.clinician_ids, \
         w.preferred_days, w.window_starts, w.window_ends, w.earliest_date, w.latest_date, \
         w.priority, {SHOWN_STATUS} AS status, w.notes, w.waiting_since, w.expires_at, \
         w.version, w.created_at, w.updated_at"
    );
    let sql = super::page_query(
        &columns,
        &filter_sql,
        "(w.priority <> 'URGENT'), w.waiting_since, w.id",
        7,
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(care_team_of(may.scope()))
        .bind(filter.status.as_deref())
        .bind(filter.service_code.as_deref())
        .bind(filter.clinician_id)
        .bind(filter.priority.as_deref())
        .bind(limit)
        .bind(offset)
        .fetch_all(tx.conn())
        .await?;
    super::read_page(&rows)
}

/// The SQL test that entry `w` would take a slot of clinician `clinician` from `start` to
/// `end` (instants), its days, windows and dates read in zone `tz`: the one definition of
/// "matches the preferences" both searches use.
fn prefers(w: &str, clinician: &str, start: &str, end: &str, tz: &str) -> String {
    // "No preference" is a generated boolean column (not `cardinality(..) = 0`, not an array
    // equality): under row-level security the planner uses statistics with leakproof operators
    // only, and boolean equality is one. It then sees that most entries pass and keeps the
    // ranking index's order under the LIMIT instead of sorting every candidate.
    format!(
        "({w}.any_clinician OR {w}.clinician_ids @> ARRAY[{clinician}]::uuid[]) \
         AND ({w}.any_day \
              OR {w}.preferred_days @> ARRAY[extract(isodow FROM ({start} AT TIME ZONE {tz}))::smallint]) \
         AND ({w}.earliest_date IS NULL OR ({start} AT TIME ZONE {tz})::date >= {w}.earliest_date) \
         AND ({w}.latest_date IS NULL OR ({start} AT TIME ZONE {tz})::date <= {w}.latest_date) \
         AND ({w}.any_time OR EXISTS ( \
              SELECT 1 FROM unnest({w}.window_starts, {w}.window_ends) AS win(s, e) \
              WHERE ({start} AT TIME ZONE {tz})::time >= win.s \
                AND ({end} AT TIME ZONE {tz}) <= ({start} AT TIME ZONE {tz})::date + win.e))"
    )
}

/// The SQL test that patient `patient` has no active appointment overlapping `[start, end)`
/// (holds past their expiry do not count): the patient's exclusion constraint, read ahead.
fn patient_free(patient: &str, start: &str, end: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM calendar_entries e \
             WHERE e.organization_id = $1 AND e.patient_id = {patient} AND e.kind = 'APPOINTMENT' \
               AND e.status IN ('HELD', 'BOOKED', 'CHECKED_IN') \
               AND NOT (e.status = 'HELD' AND e.hold_expires_at <= now()) \
               AND e.during && tstzrange({start}, {end}, '[)'))"
    )
}

/// A freed slot to fill.
#[derive(Debug, Clone)]
pub struct Slot {
    /// Whose calendar.
    pub clinician_id: UserId,
    /// Start.
    pub start: DateTime<Utc>,
    /// End (exclusive).
    pub end: DateTime<Utc>,
    /// The service.
    pub service_code: String,
}

/// The statement of [`rank_for_slot`].
fn rank_sql() -> String {
    let prefers = prefers("w", "$2", "$3", "$4", "o.time_zone");
    let free = patient_free("w.patient_id", "$3", "$4");
    format!(
        "SELECT {cols} FROM waitlist_entries w \
         CROSS JOIN (SELECT time_zone FROM organizations WHERE id = $1) o \
         WHERE w.organization_id = $1 AND w.service_code = $5 AND w.status = 'ACTIVE' \
           AND w.expires_at > now() \
           AND ($6::uuid IS NULL OR EXISTS (SELECT 1 FROM care_team_members c \
                WHERE c.organization_id = $1 AND c.patient_id = w.patient_id AND c.user_id = $6)) \
           AND {prefers} \
           AND NOT EXISTS (SELECT 1 FROM waitlist_offers p WHERE p.organization_id = $1 \
                AND p.entry_id = w.id AND p.status = 'PENDING' AND p.expires_at > now()) \
           AND NOT EXISTS (SELECT 1 FROM waitlist_offers d WHERE d.organization_id = $1 \
                AND d.entry_id = w.id AND d.clinician_id = $2 AND d.start_at = $3 \
                AND d.status IN ('DECLINED', 'EXPIRED')) \
           AND {free} \
         ORDER BY (w.priority <> 'URGENT'), w.waiting_since, w.id \
         LIMIT $7",
        cols = COLUMNS
            .split(", ")
            .map(|c| format!("w.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// The entries that would take `slot`, best first (URGENT, then longest waiting), at most
/// `limit`: active and unexpired, of the slot's service, whose preferences the slot meets,
/// without a pending offer, that did not already decline (or let expire) this very slot,
/// whose patient is free then, and (a CLINICIAN) of the caller's
/// care-team patients. One statement.
pub async fn rank_for_slot(
    tx: &mut TenantTx,
    may: &ManageWaitlist,
    slot: &Slot,
    limit: i64,
) -> Result<Vec<EntryRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(rank_sql()))
        .bind(org)
        .bind(slot.clinician_id)
        .bind(slot.start)
        .bind(slot.end)
        .bind(&slot.service_code)
        .bind(care_team_of(may.scope()))
        .bind(limit)
        .fetch_all(tx.conn())
        .await
}

/// The `EXPLAIN (FORMAT JSON)` of [`rank_for_slot`]'s statement for `slot` (tests and
/// benchmarks show the ranking index is used); with `analyze`, run and timed.
pub async fn explain_rank_for_slot(
    tx: &mut TenantTx,
    slot: &Slot,
    limit: i64,
    analyze: bool,
) -> Result<serde_json::Value, sqlx::Error> {
    let org = tx.organization_id();
    let options = if analyze { "ANALYZE, " } else { "" };
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN ({options}FORMAT JSON) {}",
        rank_sql()
    )))
    .bind(org)
    .bind(slot.clinician_id)
    .bind(slot.start)
    .bind(slot.end)
    .bind(&slot.service_code)
    .bind(None::<UserId>)
    .bind(limit)
    .fetch_one(tx.conn())
    .await
}

/// What to search for one entry.
#[derive(Debug)]
pub struct EntrySearch {
    /// Window start.
    pub from: DateTime<Utc>,
    /// Window end.
    pub to: DateTime<Utc>,
    /// The slot's length.
    pub duration_minutes: i32,
    /// Slots start on multiples of this many minutes.
    pub granularity_minutes: i32,
    /// At most this many.
    pub limit: i64,
}

/// The free slots that meet `entry`'s preferences (its clinicians, service, days, local
/// windows and dates, in the practice's zone) and when its patient is free, at most
/// `search.limit`, and whether there were more. ONE statement: the slot finder's, filtered.
pub async fn slots_for_entry(
    tx: &mut TenantTx,
    _may: &FindSlots,
    entry: &EntryRow,
    search: &EntrySearch,
) -> Result<(Vec<SlotRow>, bool), sqlx::Error> {
    let org = tx.organization_id();
    let prefers = prefers(
        "w",
        "f.clinician_id",
        "f.start_at",
        "f.end_at",
        "o.time_zone",
    );
    let free = patient_free("w.patient_id", "f.start_at", "f.end_at");
    let sql = format!(
        "WITH free AS ({FREE}) \
         SELECT f.clinician_id, f.start_at, f.end_at FROM free f \
         CROSS JOIN (SELECT time_zone FROM organizations WHERE id = $1) o \
         JOIN waitlist_entries w ON w.organization_id = $1 AND w.id = $9 \
         WHERE {prefers} AND {free} \
         ORDER BY f.start_at, f.clinician_id LIMIT $8 + 1"
    );
    let clinicians = (!entry.clinician_ids.is_empty()).then_some(entry.clinician_ids.as_slice());
    let mut rows: Vec<SlotRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(clinicians)
        .bind(&entry.service_code)
        .bind(search.from)
        .bind(search.to)
        .bind(search.duration_minutes)
        .bind(search.granularity_minutes)
        .bind(search.limit)
        .bind(entry.id)
        .fetch_all(tx.conn())
        .await?;
    let truncated = i64::try_from(rows.len()).unwrap_or(i64::MAX) > search.limit;
    rows.truncate(usize::try_from(search.limit).unwrap_or(0));
    Ok((rows, truncated))
}

/// How many of `ids` are active CLINICIAN users of the transaction's organization.
pub async fn active_clinicians(tx: &mut TenantTx, ids: &[UserId]) -> Result<i64, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE organization_id = $1 AND id = ANY ($2) \
         AND role = 'CLINICIAN' AND NOT disabled",
    )
    .bind(org)
    .bind(ids)
    .fetch_one(tx.conn())
    .await
}
