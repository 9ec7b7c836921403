//! Waitlist offers, as stored. An offer is a HELD appointment (`calendar_entries`, so the
//! exclusion constraints protect the slot and its units are reserved through the ledger) and
//! this row; partial unique indexes keep one PENDING offer per entry and per slot.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::db::TenantTx;
use crate::ids::{
    AppointmentId, OrganizationId, PatientId, UserId, WaitlistEntryId, WaitlistOfferId,
};
use crate::policy::capability::{ManageWaitlist, OfPatient, PatientUse};
use crate::store::waitlist::Slot;

/// An offer row.
#[derive(Debug, Clone, FromRow)]
pub struct OfferRow {
    /// The offer.
    pub id: WaitlistOfferId,
    /// The entry it was made to.
    pub entry_id: WaitlistEntryId,
    /// The entry's patient.
    pub patient_id: PatientId,
    /// The HELD appointment that holds the slot.
    pub appointment_id: AppointmentId,
    /// The slot's clinician.
    pub clinician_id: UserId,
    /// The slot's start.
    pub start_at: DateTime<Utc>,
    /// The slot's end.
    pub end_at: DateTime<Utc>,
    /// PENDING, ACCEPTED, DECLINED or EXPIRED.
    pub status: String,
    /// Until when it may be accepted.
    pub expires_at: DateTime<Utc>,
    /// Made by the practice's auto-offer.
    pub automatic: bool,
    /// Why it was declined.
    pub decline_reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Accepted, declined or expired at.
    pub decided_at: Option<DateTime<Utc>>,
}

impl OfPatient for OfferRow {
    const ENTITY: &'static str = "waitlist_offer";
    fn entity_id(&self) -> uuid::Uuid {
        self.id.as_uuid()
    }
    fn patient_id(&self) -> PatientId {
        self.patient_id
    }
}

const COLUMNS: &str = "id, entry_id, patient_id, appointment_id, clinician_id, start_at, end_at, \
     status, expires_at, automatic, decline_reason, created_at, decided_at";

/// The unique index of one pending offer per entry.
pub const ONE_PER_ENTRY: &str = "waitlist_offers_one_per_entry";
/// The unique index of one pending offer per slot.
pub const ONE_PER_SLOT: &str = "waitlist_offers_one_per_slot";

/// A new offer (its appointment already written, HELD until `expires_at`).
#[derive(Debug)]
pub struct NewOffer {
    /// Its id.
    pub id: WaitlistOfferId,
    /// The entry.
    pub entry_id: WaitlistEntryId,
    /// The entry's patient.
    pub patient_id: PatientId,
    /// The HELD appointment.
    pub appointment_id: AppointmentId,
    /// The slot.
    pub clinician_id: UserId,
    /// The slot's start.
    pub start: DateTime<Utc>,
    /// The slot's end.
    pub end: DateTime<Utc>,
    /// Its expiry (the appointment's hold expiry).
    pub expires_at: DateTime<Utc>,
    /// Made automatically.
    pub automatic: bool,
    /// Who made it (`None`: the auto-offer).
    pub created_by: Option<UserId>,
}

/// Inserts an offer; a second pending offer of the entry or the slot fails with a unique
/// violation on [`ONE_PER_ENTRY`] or [`ONE_PER_SLOT`].
pub async fn insert(
    tx: &mut TenantTx,
    _may: &ManageWaitlist,
    new: &NewOffer,
) -> Result<OfferRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO waitlist_offers (organization_id, id, entry_id, patient_id, appointment_id, \
             clinician_id, start_at, end_at, expires_at, automatic, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(new.id)
    .bind(new.entry_id)
    .bind(new.patient_id)
    .bind(new.appointment_id)
    .bind(new.clinician_id)
    .bind(new.start)
    .bind(new.end)
    .bind(new.expires_at)
    .bind(new.automatic)
    .bind(new.created_by)
    .fetch_one(tx.conn())
    .await
}

/// Offer `id` of the transaction's organization (locked when `lock`).
pub async fn find(
    tx: &mut TenantTx,
    _may: &PatientUse,
    id: WaitlistOfferId,
    lock: bool,
) -> Result<Option<OfferRow>, sqlx::Error> {
    let org = tx.organization_id();
    let suffix = if lock { " FOR UPDATE" } else { "" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM waitlist_offers WHERE organization_id = $1 AND id = $2{suffix}"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// Which organization holds offer `id`, if any.
pub async fn organization_of(
    tx: &mut TenantTx,
    id: WaitlistOfferId,
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.waitlist_offer_organization($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}

/// Decides a locked PENDING offer: ACCEPTED, or DECLINED with `reason`.
pub async fn decide(
    tx: &mut TenantTx,
    _may: &ManageWaitlist,
    id: WaitlistOfferId,
    status: &str,
    reason: Option<&str>,
) -> Result<OfferRow, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE waitlist_offers SET status = $3, decline_reason = $4, decided_at = now() \
         WHERE organization_id = $1 AND id = $2 AND status = 'PENDING' RETURNING {COLUMNS}"
    )))
    .bind(org)
    .bind(id)
    .bind(status)
    .bind(reason)
    .fetch_one(tx.conn())
    .await
}

/// The pending offer of entry `entry`, if any.
pub async fn pending_of_entry(
    tx: &mut TenantTx,
    entry: WaitlistEntryId,
) -> Result<Option<OfferRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM waitlist_offers \
         WHERE organization_id = $1 AND entry_id = $2 AND status = 'PENDING'"
    )))
    .bind(org)
    .bind(entry)
    .fetch_optional(tx.conn())
    .await
}

/// An expired offer released by [`expire`].
#[derive(Debug, Clone, FromRow)]
pub struct Expired {
    /// The offer.
    pub id: WaitlistOfferId,
    /// Its slot's clinician.
    pub clinician_id: UserId,
    /// Its slot's start.
    pub start_at: DateTime<Utc>,
    /// Its slot's end.
    pub end_at: DateTime<Utc>,
    /// The service of its entry.
    pub service_code: String,
    /// Units the whole statement gave back (the same on every row; 0 without authorizations
    /// or when the holds were already released). Not per offer: that would join two of the
    /// statement's CTEs, which PostgreSQL can only nest-loop.
    pub released_units: i64,
}

impl Expired {
    /// The slot it held, to offer again.
    #[must_use]
    pub fn slot(&self) -> Slot {
        Slot {
            clinician_id: self.clinician_id,
            start: self.start_at,
            end: self.end_at,
            service_code: self.service_code.clone(),
        }
    }
}

/// Which expired offers [`expire`] releases.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    /// Every one of the organization (the sweeper).
    All,
    /// This one (its accept or decline, at use).
    Offer(WaitlistOfferId),
    /// Those of this entry or of this slot (a new offer of them, at use).
    EntryOrSlot {
        /// The entry.
        entry: WaitlistEntryId,
        /// The slot's clinician.
        clinician: UserId,
        /// The slot's start.
        start: DateTime<Utc>,
    },
}

/// The statement of [`expire`]: `$1` organization, `$2` one offer, `$3` trigger, `$4` one
/// entry, `$5`/`$6` one slot (each `NULL`: any).
const EXPIRE: &str = "WITH offers AS ( \
             UPDATE waitlist_offers o SET status = 'EXPIRED', decided_at = now() \
             WHERE o.organization_id = $1 AND o.status = 'PENDING' AND o.expires_at <= now() \
               AND ($2::uuid IS NULL OR o.id = $2) \
               AND ($4::uuid IS NULL OR o.entry_id = $4 OR (o.clinician_id = $5 AND o.start_at = $6)) \
             RETURNING o.organization_id, o.id, o.entry_id, o.patient_id, o.appointment_id, \
                       o.clinician_id, o.start_at, o.end_at), \
         holds AS ( \
             UPDATE calendar_entries e SET status = 'CANCELLED', reason = 'offer expired', \
                 hold_expires_at = NULL, version = e.version + 1, updated_at = now() \
             FROM offers x \
             WHERE e.organization_id = x.organization_id AND e.id = x.appointment_id \
               AND e.status = 'HELD' \
             RETURNING e.organization_id, e.id, e.session_id), \
         sessions AS ( \
             UPDATE therapy_sessions s SET status = 'CANCELLED', cancel_reason = 'offer expired', \
                 cancelled_at = now(), updated_at = now() \
             FROM holds h \
             WHERE s.organization_id = h.organization_id AND s.id = h.session_id \
               AND s.status IN ('SCHEDULED', 'IN_PROGRESS') \
             RETURNING s.organization_id, s.id, s.authorization_id, s.reserved_units), \
         ledger AS ( \
             INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, user_id, reason) \
             SELECT organization_id, authorization_id, id, 'RELEASE', -reserved_units, NULL, 'offer expired' \
             FROM sessions), \
         released AS ( \
             UPDATE authorizations a SET used_units = a.used_units - g.units \
             FROM (SELECT organization_id, authorization_id, sum(reserved_units)::int AS units \
                   FROM sessions GROUP BY organization_id, authorization_id) g \
             WHERE a.organization_id = g.organization_id AND a.id = g.authorization_id), \
         audit AS ( \
             INSERT INTO audit_outbox (organization_id, id, occurred_at, user_id, role, action, \
                 entity_type, entity_id, patient_id, access_method, outcome, request_id, details) \
             SELECT x.organization_id, haven_units.uuid_v7(), now(), NULL, NULL, 'WAITLIST_OFFER_EXPIRED', \
                 'waitlist_offer', x.id::text, x.patient_id, 'system', 'success', NULL, \
                 jsonb_build_object('entryId', x.entry_id, 'appointmentId', x.appointment_id, \
                                    'trigger', $3::text) \
             FROM offers x) \
         SELECT x.id, x.clinician_id, x.start_at, x.end_at, w.service_code, \
                (SELECT coalesce(sum(reserved_units), 0) FROM sessions)::bigint AS released_units \
         FROM offers x \
         JOIN waitlist_entries w ON w.organization_id = x.organization_id AND w.id = x.entry_id";

/// Releases the transaction's organization's pending offers past their expiry (`which` of
/// them), in ONE statement: each offer EXPIRED; its appointment, if still HELD, CANCELLED
/// ('offer expired'); the appointment's open session CANCELLED with one RELEASE ledger row;
/// the units given back to the authorization; one `WAITLIST_OFFER_EXPIRED` audit row per
/// offer. (A hold the hold-expiry job already released has its ledger row from that job.)
pub async fn expire(
    tx: &mut TenantTx,
    which: Which,
    trigger: &str,
) -> Result<Vec<Expired>, sqlx::Error> {
    let org = tx.organization_id();
    let (only, entry, slot) = match which {
        Which::All => (None, None, None),
        Which::Offer(id) => (Some(id), None, None),
        Which::EntryOrSlot {
            entry,
            clinician,
            start,
        } => (None, Some(entry), Some((clinician, start))),
    };
    sqlx::query_as(EXPIRE)
        .bind(org)
        .bind(only)
        .bind(trigger)
        .bind(entry)
        .bind(slot.map(|s| s.0))
        .bind(slot.map(|s| s.1))
        .fetch_all(tx.conn())
        .await
}

/// Marks the transaction's organization's ACTIVE entries past their expiry EXPIRED (one
/// statement); returns how many.
pub async fn expire_entries(tx: &mut TenantTx) -> Result<u64, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "UPDATE waitlist_entries SET status = 'EXPIRED', version = version + 1, updated_at = now() \
         WHERE organization_id = $1 AND status = 'ACTIVE' AND expires_at <= now() \
           AND NOT EXISTS (SELECT 1 FROM waitlist_offers o WHERE o.organization_id = $1 \
                           AND o.entry_id = waitlist_entries.id AND o.status = 'PENDING')",
    )
    .bind(org)
    .execute(tx.conn())
    .await
    .map(|done| done.rows_affected())
}

/// Organizations with expired pending offers or entries, across tenants, through the narrow
/// SECURITY DEFINER look-up (ids only). `pool` is the runtime pool with no tenant set.
pub async fn organizations_with_expired(
    pool: &sqlx::PgPool,
) -> Result<Vec<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.organizations_with_expired_waitlist(now())")
        .fetch_all(pool)
        .await
}

/// `EXPLAIN (ANALYZE, FORMAT JSON)` of [`expire`]'s statement over every expired offer (it runs:
/// the benchmark rolls its transaction back).
pub async fn explain_expire(tx: &mut TenantTx) -> Result<serde_json::Value, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, FORMAT JSON) {EXPIRE}"
    )))
    .bind(org)
    .bind(None::<WaitlistOfferId>)
    .bind("benchmark")
    .bind(None::<WaitlistEntryId>)
    .bind(None::<UserId>)
    .bind(None::<DateTime<Utc>>)
    .fetch_one(tx.conn())
    .await
}
