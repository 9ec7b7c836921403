//! Charges and the fee schedule, as stored (SPEC §6 "Charges").
//!
//! A charge is made by the statement that follows a session's completion ([`create_for_session`]):
//! its units are the session's net units in the unit ledger, read in that statement, never an
//! input. Its holds are computed by one set-based statement ([`reevaluate`]) run when the charge
//! is made or changed, when a linked note is signed, co-signed or returned, and daily; the
//! table's CHECKs make READY mean "no hold" and a billable line complete.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::FromRow;

use crate::audit::{AccessMethod, AuditAction, AuditEvent};
use crate::db::TenantTx;
use crate::ids::{
    AuthorizationId, ChargeId, NoteId, OrganizationId, PatientId, TherapySessionId, UserId,
};
use crate::policy::capability::{ManageAuthorizations, ManageCharges, Visible};
use crate::store::sessions_units::SessionRow;

/// A charge row, with the session's net units in the ledger.
#[derive(Debug, Clone, FromRow)]
pub struct ChargeRow {
    /// The charge.
    pub id: ChargeId,
    /// The completed session it bills.
    pub session_id: TherapySessionId,
    /// The authorization the units came from.
    pub authorization_id: AuthorizationId,
    /// Whose.
    pub patient_id: PatientId,
    /// The session's clinician.
    pub rendering_provider_id: Option<UserId>,
    /// The authorization's payer.
    pub payer_name: String,
    /// The session's date in the practice's time zone.
    pub service_date: NaiveDate,
    /// CPT/HCPCS code.
    pub cpt_code: String,
    /// Up to four modifiers.
    pub modifiers: Vec<String>,
    /// Up to twelve ICD-10-CM codes.
    pub diagnosis_codes: Vec<String>,
    /// One to four 1-based positions in `diagnosis_codes`.
    pub diagnosis_pointers: Vec<i16>,
    /// Two-digit place of service.
    pub place_of_service: String,
    /// Units billed (the ledger's, at the last evaluation).
    pub units: i32,
    /// The session's net units in the ledger now.
    pub ledger_units: i32,
    /// The schedule's rate, if it had one.
    pub cents_per_unit: Option<i64>,
    /// Units × rate.
    pub charge_cents: i64,
    /// PENDING, READY, EXPORTED or VOID.
    pub status: String,
    /// The computed holds.
    pub hold_reasons: Vec<String>,
    /// Why billing holds it by hand.
    pub manual_hold_reason: Option<String>,
    /// Why it was voided.
    pub void_reason: Option<String>,
    /// Bumped by every change.
    pub version: i32,
    /// Made.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "c.id, c.session_id, c.authorization_id, c.patient_id, \
     c.rendering_provider_id, c.payer_name, c.service_date, c.cpt_code, c.modifiers, \
     c.diagnosis_codes, c.diagnosis_pointers, c.place_of_service, c.units, \
     (SELECT coalesce(sum(l.units), 0)::int FROM unit_ledger l \
      WHERE l.organization_id = c.organization_id AND l.session_id = c.session_id) AS ledger_units, \
     c.cents_per_unit, c.charge_cents, c.status, c.hold_reasons, c.manual_hold_reason, \
     c.void_reason, c.version, c.created_at, c.updated_at";

/// The charge of a session just completed, made in the completing transaction: CPT (and a
/// two-character modifier, when the service code carries one) from the authorization, units the
/// session's net ledger units, the rate the schedule has for the payer (else its default) on
/// the date of service. A session completed with no units bills nothing: no charge (`None`).
/// Its holds are evaluated before it is returned.
pub async fn create_for_session(
    tx: &mut TenantTx,
    session: &Visible<SessionRow>,
) -> Result<Option<ChargeRow>, sqlx::Error> {
    let org = tx.organization_id();
    let id: Option<ChargeId> = sqlx::query_scalar(
        "WITH s AS ( \
             SELECT s.organization_id, s.id, s.authorization_id, s.patient_id, s.clinician_id, \
                    a.payer_name, (s.start_time AT TIME ZONE o.time_zone)::date AS service_date, \
                    split_part(a.service_code, '-', 1) AS cpt_code, \
                    CASE WHEN split_part(a.service_code, '-', 2) ~ '^[A-Z0-9]{2}$' \
                         THEN ARRAY[split_part(a.service_code, '-', 2)] ELSE '{}'::text[] END AS modifiers, \
                    (SELECT coalesce(sum(l.units), 0)::int FROM unit_ledger l \
                     WHERE l.organization_id = s.organization_id AND l.session_id = s.id) AS units \
             FROM therapy_sessions s \
             JOIN authorizations a ON a.organization_id = s.organization_id AND a.id = s.authorization_id \
             JOIN organizations o ON o.id = s.organization_id \
             WHERE s.organization_id = $1 AND s.id = $2 AND s.status = 'COMPLETED') \
         INSERT INTO charges (organization_id, session_id, authorization_id, patient_id, \
             rendering_provider_id, payer_name, service_date, cpt_code, modifiers, units, \
             cents_per_unit, charge_cents, status, hold_reasons) \
         SELECT s.organization_id, s.id, s.authorization_id, s.patient_id, s.clinician_id, \
                s.payer_name, s.service_date, s.cpt_code, s.modifiers, s.units, f.cents_per_unit, \
                s.units * coalesce(f.cents_per_unit, 0), 'PENDING', ARRAY['NOTE_MISSING'] \
         FROM s LEFT JOIN LATERAL ( \
             SELECT f.cents_per_unit FROM fee_schedule f \
             WHERE f.organization_id = s.organization_id AND f.cpt_code = s.cpt_code \
               AND f.modifiers = array_to_string(s.modifiers, ',') \
               AND f.payer_name IN (s.payer_name, '') AND f.effective @> s.service_date \
             ORDER BY f.payer_name = '' LIMIT 1) f ON true \
         WHERE s.units > 0 \
         RETURNING id",
    )
    .bind(org)
    .bind(session.row().id)
    .fetch_optional(tx.conn())
    .await?;
    let Some(id) = id else { return Ok(None) };
    reevaluate(tx, Scope::Charge(id)).await?;
    find_row(tx, id).await
}

/// The void reason of a charge whose session a correction took to 0 units.
pub const CORRECTED_TO_ZERO: &str = "session units corrected to 0";

/// What a correction of a completed session's units did to the session's charge.
#[derive(Debug)]
pub enum Rederived {
    /// Nothing to bill and nothing billed: the session still has no units, or its charge was
    /// voided by billing (a voided session is not billed again).
    Unbilled,
    /// The session billed nothing (completed with 0 units) and now does: its charge, made.
    Created(ChargeRow),
    /// The live charge follows the ledger: new units and amount, version bumped. An exported
    /// charge is now owed to the next export as a replacement (frequency code 7).
    Changed {
        /// Its units before.
        before: i32,
        /// The charge after.
        charge: ChargeRow,
    },
    /// The session's units went to 0: the charge is void. An exported charge is now owed to
    /// the next export as a void (frequency code 8).
    Voided {
        /// Its units before.
        before: i32,
        /// The charge after.
        charge: ChargeRow,
    },
    /// The charge was exported and replaced (7) already; a charge is exported once per
    /// frequency code, so a second replacement could never reach the payer. Nothing changed
    /// on the charge: the caller refuses the correction.
    AlreadyReplaced(ChargeRow),
}

/// Re-derives the charge of completed session `session` from the ledger after a correction of
/// its units in this transaction ([`Rederived`] tells what happened). The live charge is
/// locked first. Amounts keep the charge's rate (the schedule's on the date of service, fixed
/// when the charge was made: "charges already made keep their amounts" when the schedule
/// changes); a charge without a rate stays at 0 cents.
pub async fn rederive_for_session(
    tx: &mut TenantTx,
    _may: &ManageAuthorizations,
    session: &Visible<SessionRow>,
) -> Result<Rederived, sqlx::Error> {
    let org = tx.organization_id();
    let session_id = session.row().id;
    let live: Option<(ChargeId, String, i32, Vec<String>)> = sqlx::query_as(
        "SELECT id, status, units, exported_codes FROM charges \
         WHERE organization_id = $1 AND session_id = $2 AND status <> 'VOID' FOR UPDATE",
    )
    .bind(org)
    .bind(session_id)
    .fetch_optional(tx.conn())
    .await?;
    let units = crate::store::sessions_units::ledger_units(tx, session_id).await?;
    let Some((id, status, before, codes)) = live else {
        let voided: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM charges WHERE organization_id = $1 AND session_id = $2)",
        )
        .bind(org)
        .bind(session_id)
        .fetch_one(tx.conn())
        .await?;
        if voided || units <= 0 {
            return Ok(Rederived::Unbilled);
        }
        return Ok(create_for_session(tx, session)
            .await?
            .map_or(Rederived::Unbilled, Rederived::Created));
    };
    let found = |row: Option<ChargeRow>| row.ok_or(sqlx::Error::RowNotFound);
    if units <= 0 {
        let charge = found(set_void(tx, id, CORRECTED_TO_ZERO).await?)?;
        return Ok(Rederived::Voided { before, charge });
    }
    if status != "EXPORTED" {
        // Open: the hold statement re-derives units and amount (and re-checks the holds).
        reevaluate(tx, Scope::Charge(id)).await?;
        let charge = found(find_row(tx, id).await?)?;
        return Ok(Rederived::Changed { before, charge });
    }
    if codes.iter().any(|code| code == "7") {
        return Ok(Rederived::AlreadyReplaced(found(find_row(tx, id).await?)?));
    }
    // Exported: a new version, which the next export carries as a replacement.
    sqlx::query(
        "UPDATE charges SET units = $3, charge_cents = $3 * coalesce(cents_per_unit, 0), \
             version = version + 1, updated_at = now() \
         WHERE organization_id = $1 AND id = $2 AND status = 'EXPORTED'",
    )
    .bind(org)
    .bind(id)
    .bind(units)
    .execute(tx.conn())
    .await?;
    let charge = found(find_row(tx, id).await?)?;
    Ok(Rederived::Changed { before, charge })
}

/// Which open charges [`reevaluate`] looks at.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// One charge.
    Charge(ChargeId),
    /// Those of the sessions note `.0` documents (directly or through their appointment).
    Note(NoteId),
    /// Every open charge of the organization (the daily job).
    All,
}

/// Re-computes the holds, status and (for open charges) the ledger-derived units and amount of
/// the open (PENDING or READY) charges in `scope`, in one statement; returns how many changed.
///
/// Holds: `NOTE_MISSING` (no live, non-psychotherapy note documents the session),
/// `NOTE_UNSIGNED` (its best note is a draft), `COSIGN_MISSING` (awaiting co-signature),
/// `DIAGNOSIS_MISSING` (no diagnosis code or pointer; a signed note's codes fill an empty
/// charge's, pointing at the first four), `AUTHORIZATION_EXPIRED` (cancelled, or the date of
/// service is outside its period), `MANUAL` (held by hand). READY exactly when none.
pub async fn reevaluate(tx: &mut TenantTx, scope: Scope) -> Result<u64, sqlx::Error> {
    let org = tx.organization_id();
    let (charge, note) = match scope {
        Scope::Charge(id) => (Some(id), None),
        Scope::Note(id) => (None, Some(id)),
        Scope::All => (None, None),
    };
    let done: Vec<(ChargeId, PatientId, bool)> = sqlx::query_as(
        "WITH target AS ( \
             SELECT c.id, c.status AS old_status, c.diagnosis_codes, c.diagnosis_pointers, c.manual_hold_reason, \
                    c.service_date, c.cents_per_unit, \
                    (SELECT coalesce(sum(l.units), 0)::int FROM unit_ledger l \
                     WHERE l.organization_id = c.organization_id AND l.session_id = c.session_id) AS units, \
                    n.status AS note_status, n.diagnosis_codes AS note_codes, \
                    a.status AS auth_status, a.start_date, a.end_date \
             FROM charges c \
             JOIN authorizations a ON a.organization_id = c.organization_id AND a.id = c.authorization_id \
             LEFT JOIN LATERAL ( \
                 SELECT n.status, n.diagnosis_codes FROM notes n \
                 WHERE n.organization_id = c.organization_id \
                   AND n.status <> 'ENTERED_IN_ERROR' AND n.note_type <> 'PSYCHOTHERAPY' \
                   AND (n.session_id = c.session_id OR n.appointment_id IN ( \
                        SELECT e.id FROM calendar_entries e \
                        WHERE e.organization_id = c.organization_id AND e.session_id = c.session_id)) \
                 ORDER BY CASE n.status WHEN 'SIGNED' THEN 0 WHEN 'PENDING_COSIGN' THEN 1 ELSE 2 END, \
                          n.created_at DESC \
                 LIMIT 1) n ON true \
             WHERE c.organization_id = $1 AND c.status IN ('PENDING', 'READY') \
               AND ($2::uuid IS NULL OR c.id = $2) \
               AND ($3::uuid IS NULL OR c.session_id IN ( \
                    SELECT coalesce(x.session_id, e.session_id) FROM notes x \
                    LEFT JOIN calendar_entries e \
                      ON e.organization_id = x.organization_id AND e.id = x.appointment_id \
                    WHERE x.organization_id = $1 AND x.id = $3)) \
             FOR UPDATE OF c), \
         coded AS ( \
             SELECT t.*, \
                    CASE WHEN cardinality(t.diagnosis_codes) = 0 AND t.note_status = 'SIGNED' \
                         THEN t.note_codes ELSE t.diagnosis_codes END AS codes, \
                    CASE WHEN cardinality(t.diagnosis_codes) = 0 AND t.note_status = 'SIGNED' \
                         THEN ARRAY(SELECT g::smallint FROM generate_series(1, least(cardinality(t.note_codes), 4)) g) \
                         ELSE t.diagnosis_pointers END AS pointers \
             FROM target t), \
         computed AS ( \
             SELECT k.*, array_remove(ARRAY[ \
                 CASE WHEN k.note_status IS NULL THEN 'NOTE_MISSING' END, \
                 CASE WHEN k.note_status = 'DRAFT' THEN 'NOTE_UNSIGNED' END, \
                 CASE WHEN k.note_status = 'PENDING_COSIGN' THEN 'COSIGN_MISSING' END, \
                 CASE WHEN cardinality(k.codes) = 0 OR cardinality(k.pointers) = 0 \
                      THEN 'DIAGNOSIS_MISSING' END, \
                 CASE WHEN k.auth_status = 'CANCELLED' \
                        OR k.service_date NOT BETWEEN k.start_date AND k.end_date \
                      THEN 'AUTHORIZATION_EXPIRED' END, \
                 CASE WHEN k.manual_hold_reason IS NOT NULL THEN 'MANUAL' END], NULL) AS holds \
             FROM coded k) \
         UPDATE charges c SET hold_reasons = x.holds, \
             status = CASE WHEN cardinality(x.holds) = 0 THEN 'READY' ELSE 'PENDING' END, \
             diagnosis_codes = x.codes, diagnosis_pointers = x.pointers, \
             units = CASE WHEN x.units > 0 THEN x.units ELSE c.units END, \
             charge_cents = (CASE WHEN x.units > 0 THEN x.units ELSE c.units END) \
                            * coalesce(c.cents_per_unit, 0), \
             version = c.version + 1, updated_at = now() \
         FROM computed x \
         WHERE c.organization_id = $1 AND c.id = x.id \
           AND (c.hold_reasons IS DISTINCT FROM x.holds OR c.diagnosis_codes IS DISTINCT FROM x.codes \
                OR c.diagnosis_pointers IS DISTINCT FROM x.pointers \
                OR (x.units > 0 AND c.units <> x.units) \
                OR c.status <> CASE WHEN cardinality(x.holds) = 0 THEN 'READY' ELSE 'PENDING' END) \
         RETURNING c.id, c.patient_id, c.status = 'READY' AND x.old_status <> 'READY'",
    )
    .bind(org)
    .bind(charge)
    .bind(note)
    .fetch_all(tx.conn())
    .await?;
    // A charge that became READY is audited (and so reaches realtime as `charge.ready`): the
    // change follows a signature or the daily job, not a request on the charge.
    let ready: Vec<AuditEvent> = done
        .iter()
        .filter(|(_, _, became_ready)| *became_ready)
        .map(|(id, patient, _)| {
            AuditEvent::new(AuditAction::ChargeReady)
                .with_access_method(AccessMethod::System)
                .with_entity("charge", id)
                .with_patient(*patient)
        })
        .collect();
    crate::audit::record_many(tx, &ready).await?;
    Ok(done.len() as u64)
}

async fn find_row(tx: &mut TenantTx, id: ChargeId) -> Result<Option<ChargeRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM charges c WHERE c.organization_id = $1 AND c.id = $2"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// Charge `id` of the transaction's organization (locked until the transaction ends when
/// `lock`).
pub async fn find(
    tx: &mut TenantTx,
    _may: &ManageCharges,
    id: ChargeId,
    lock: bool,
) -> Result<Option<ChargeRow>, sqlx::Error> {
    if lock {
        let org = tx.organization_id();
        sqlx::query("SELECT 1 FROM charges WHERE organization_id = $1 AND id = $2 FOR UPDATE")
            .bind(org)
            .bind(id)
            .execute(tx.conn())
            .await?;
    }
    find_row(tx, id).await
}

/// The organization holding charge `id`, across tenants (ids only): tells a foreign charge
/// from none, for the audit trail.
pub async fn organization_of(
    tx: &mut TenantTx,
    id: ChargeId,
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.charge_organization($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}

/// What `GET /api/charges` filters by (all optional; dates of service, half-open).
#[derive(Debug, Default)]
pub struct Filter {
    /// PENDING, READY, EXPORTED or VOID.
    pub status: Option<String>,
    /// One patient.
    pub patient_id: Option<PatientId>,
    /// One payer (exact).
    pub payer_name: Option<String>,
    /// Service date on or after.
    pub from: Option<NaiveDate>,
    /// Service date before.
    pub to: Option<NaiveDate>,
}

/// A page of the organization's charges matching `filter`, by date of service, and the total.
pub async fn list(
    tx: &mut TenantTx,
    _may: &ManageCharges,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ChargeRow>, i64), sqlx::Error> {
    let org = tx.organization_id();
    let query = super::page_query(
        COLUMNS,
        "FROM charges c WHERE c.organization_id = $1 \
           AND ($2::text IS NULL OR c.status = $2) \
           AND ($3::uuid IS NULL OR c.patient_id = $3) \
           AND ($4::text IS NULL OR c.payer_name = $4) \
           AND ($5::date IS NULL OR c.service_date >= $5) \
           AND ($6::date IS NULL OR c.service_date < $6)",
        "c.service_date, c.id",
        7,
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(query))
        .bind(org)
        .bind(filter.status.as_deref())
        .bind(filter.patient_id)
        .bind(filter.payer_name.as_deref())
        .bind(filter.from)
        .bind(filter.to)
        .bind(limit)
        .bind(offset)
        .fetch_all(tx.conn())
        .await?;
    super::read_page(&rows)
}

/// What billing may change on an open charge (`None`: keep).
#[derive(Debug, Default)]
pub struct Changes {
    /// Modifiers.
    pub modifiers: Option<Vec<String>>,
    /// Diagnosis codes.
    pub diagnosis_codes: Option<Vec<String>>,
    /// Diagnosis pointers.
    pub diagnosis_pointers: Option<Vec<i16>>,
    /// Place of service.
    pub place_of_service: Option<String>,
}

/// Applies `changes` to open charge `id` if it is still at `expected_version` (one statement),
/// then re-evaluates its holds. `None` when the version (or status) did not match.
pub async fn update(
    tx: &mut TenantTx,
    _may: &ManageCharges,
    id: ChargeId,
    expected_version: i32,
    changes: &Changes,
) -> Result<Option<ChargeRow>, sqlx::Error> {
    let org = tx.organization_id();
    let changed = sqlx::query(
        "UPDATE charges SET modifiers = coalesce($4, modifiers), \
             diagnosis_codes = coalesce($5, diagnosis_codes), \
             diagnosis_pointers = coalesce($6, diagnosis_pointers), \
             place_of_service = coalesce($7, place_of_service), \
             version = version + 1, updated_at = now() \
         WHERE organization_id = $1 AND id = $2 AND version = $3 AND status IN ('PENDING', 'READY')",
    )
    .bind(org)
    .bind(id)
    .bind(expected_version)
    .bind(changes.modifiers.as_deref())
    .bind(changes.diagnosis_codes.as_deref())
    .bind(changes.diagnosis_pointers.as_deref())
    .bind(changes.place_of_service.as_deref())
    .execute(tx.conn())
    .await?;
    if changed.rows_affected() == 0 {
        return Ok(None);
    }
    reevaluate(tx, Scope::Charge(id)).await?;
    find_row(tx, id).await
}

/// Sets (`Some`) or clears (`None`) the manual hold of open charge `id`, re-evaluating its
/// holds in the same statement's transaction. `None` when the charge is not open.
pub async fn set_manual_hold(
    tx: &mut TenantTx,
    _may: &ManageCharges,
    id: ChargeId,
    reason: Option<&str>,
) -> Result<Option<ChargeRow>, sqlx::Error> {
    let org = tx.organization_id();
    // The holds array is fixed up in the same UPDATE so the MANUAL CHECK holds at its end;
    // reevaluate then settles status and the rest.
    let changed = sqlx::query(
        "UPDATE charges SET manual_hold_reason = $3, \
             hold_reasons = CASE WHEN $3::text IS NULL THEN array_remove(hold_reasons, 'MANUAL') \
                 ELSE array_append(array_remove(hold_reasons, 'MANUAL'), 'MANUAL') END, \
             status = CASE WHEN $3::text IS NOT NULL THEN 'PENDING' \
                 WHEN cardinality(array_remove(hold_reasons, 'MANUAL')) = 0 THEN 'READY' \
                 ELSE 'PENDING' END, \
             version = version + 1, updated_at = now() \
         WHERE organization_id = $1 AND id = $2 AND status IN ('PENDING', 'READY')",
    )
    .bind(org)
    .bind(id)
    .bind(reason)
    .execute(tx.conn())
    .await?;
    if changed.rows_affected() == 0 {
        return Ok(None);
    }
    reevaluate(tx, Scope::Charge(id)).await?;
    find_row(tx, id).await
}

/// Voids charge `id` (not yet VOID) with `reason`. `None` when it is already void.
pub async fn void(
    tx: &mut TenantTx,
    _may: &ManageCharges,
    id: ChargeId,
    reason: &str,
) -> Result<Option<ChargeRow>, sqlx::Error> {
    set_void(tx, id, reason).await
}

async fn set_void(
    tx: &mut TenantTx,
    id: ChargeId,
    reason: &str,
) -> Result<Option<ChargeRow>, sqlx::Error> {
    let org = tx.organization_id();
    let changed = sqlx::query(
        "UPDATE charges SET status = 'VOID', void_reason = $3, voided_at = now(), \
             version = version + 1, updated_at = now() \
         WHERE organization_id = $1 AND id = $2 AND status <> 'VOID'",
    )
    .bind(org)
    .bind(id)
    .bind(reason)
    .execute(tx.conn())
    .await?;
    if changed.rows_affected() == 0 {
        return Ok(None);
    }
    find_row(tx, id).await
}

/// One fee schedule entry.
#[derive(Debug, Clone, FromRow)]
pub struct FeeRow {
    /// '' for the practice's default rate.
    pub payer_name: String,
    /// CPT/HCPCS code.
    pub cpt_code: String,
    /// Modifiers joined by ','.
    pub modifiers: String,
    /// The rate.
    pub cents_per_unit: i64,
    /// First day.
    pub effective_from: NaiveDate,
    /// First day no longer covered (the next entry's start), if any.
    pub effective_to: Option<NaiveDate>,
}

/// A fee schedule entry to store.
#[derive(Debug, Clone)]
pub struct NewFee {
    /// '' for the practice's default rate.
    pub payer_name: String,
    /// CPT/HCPCS code.
    pub cpt_code: String,
    /// Modifiers joined by ','.
    pub modifiers: String,
    /// The rate.
    pub cents_per_unit: i64,
    /// First day.
    pub effective_from: NaiveDate,
}

const FEE_COLUMNS: &str = "payer_name, cpt_code, modifiers, cents_per_unit, \
     lower(effective) AS effective_from, upper(effective) AS effective_to";

/// Replaces the organization's fee schedule by `entries`: each rate runs from its
/// `effective_from` to the next start of the same payer, code and modifiers. Two entries of one
/// payer/code/modifiers starting the same day overlap: the exclusion constraint
/// `fee_schedule_no_overlap` refuses them. Charges already made keep their amounts.
pub async fn replace_fee_schedule(
    tx: &mut TenantTx,
    may: &ManageCharges,
    entries: &[NewFee],
    by: UserId,
) -> Result<Vec<FeeRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query("DELETE FROM fee_schedule WHERE organization_id = $1")
        .bind(org)
        .execute(tx.conn())
        .await?;
    let payers: Vec<&str> = entries.iter().map(|e| e.payer_name.as_str()).collect();
    let codes: Vec<&str> = entries.iter().map(|e| e.cpt_code.as_str()).collect();
    let modifiers: Vec<&str> = entries.iter().map(|e| e.modifiers.as_str()).collect();
    let cents: Vec<i64> = entries.iter().map(|e| e.cents_per_unit).collect();
    let from: Vec<NaiveDate> = entries.iter().map(|e| e.effective_from).collect();
    sqlx::query(
        "WITH e AS (SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::date[]) \
                    AS e(payer_name, cpt_code, modifiers, cents, effective_from)) \
         INSERT INTO fee_schedule (organization_id, payer_name, cpt_code, modifiers, \
             cents_per_unit, effective, created_by) \
         SELECT $1, e.payer_name, e.cpt_code, e.modifiers, e.cents, \
                daterange(e.effective_from, (SELECT min(n.effective_from) FROM e n \
                    WHERE n.payer_name = e.payer_name AND n.cpt_code = e.cpt_code \
                      AND n.modifiers = e.modifiers AND n.effective_from > e.effective_from)), $7 \
         FROM e",
    )
    .bind(org)
    .bind(&payers)
    .bind(&codes)
    .bind(&modifiers)
    .bind(&cents)
    .bind(&from)
    .bind(by)
    .execute(tx.conn())
    .await?;
    fee_schedule(tx, may).await
}

/// The organization's fee schedule, by payer, code, modifiers and date.
pub async fn fee_schedule(
    tx: &mut TenantTx,
    _may: &ManageCharges,
) -> Result<Vec<FeeRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {FEE_COLUMNS} FROM fee_schedule WHERE organization_id = $1 \
         ORDER BY payer_name, cpt_code, modifiers, lower(effective)"
    )))
    .bind(org)
    .fetch_all(tx.conn())
    .await
}

/// Re-evaluates the holds of every open charge of the transaction's organization (the daily
/// job's statement), proof of the caller's right not needed: it changes no input, only derives.
pub async fn reevaluate_all(tx: &mut TenantTx) -> Result<u64, sqlx::Error> {
    reevaluate(tx, Scope::All).await
}

/// Organizations with open charges, across tenants, through the narrow SECURITY DEFINER
/// look-up (ids only). `pool` is the runtime pool with no tenant set.
pub async fn organizations_with_open_charges(
    pool: &sqlx::PgPool,
) -> Result<Vec<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.organizations_with_open_charges()")
        .fetch_all(pool)
        .await
}
