//! Charge exports, as stored (SPEC §6 "Charges"): the export record, its items (a snapshot of
//! each line as exported), and the cursor a download reads them through.
//!
//! [`create`] is one statement: it locks the exportable charges (`FOR UPDATE SKIP LOCKED`),
//! writes the record and the items and marks the charges, so two exports racing split the
//! charges between them; the unique constraint on (charge, frequency code) is the last line.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::FromRow;

use crate::db::TenantTx;
use crate::ids::{AuthorizationId, ChargeExportId, ChargeId, OrganizationId, PatientId, UserId};
use crate::policy::capability::ManageCharges;

/// An export record.
#[derive(Debug, Clone, FromRow)]
pub struct ExportRow {
    /// The export.
    pub id: ChargeExportId,
    /// `csv` or `837p-json`.
    pub format: String,
    /// First date of service.
    pub from_date: NaiveDate,
    /// Last date of service (included).
    pub to_date: NaiveDate,
    /// The payer, if one was named.
    pub payer_name: Option<String>,
    /// Lines.
    pub charge_count: i32,
    /// Of the original and replacement lines.
    pub total_charge_cents: i64,
    /// Who made it.
    pub created_by: Option<UserId>,
    /// When.
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, format, from_date, to_date, payer_name, charge_count, \
     total_charge_cents, created_by, created_at";

/// What to export.
#[derive(Debug, Clone)]
pub struct NewExport<'a> {
    /// `csv` or `837p-json`.
    pub format: &'a str,
    /// First date of service.
    pub from: NaiveDate,
    /// Last date of service (included).
    pub to: NaiveDate,
    /// One payer only.
    pub payer_name: Option<&'a str>,
    /// Who exports.
    pub by: UserId,
}

/// Exports what is owed in the range, in one statement: READY charges as originals (frequency
/// code 1, then EXPORTED), exported charges voided since as voids (8), exported charges changed
/// since as replacements (7). `None` when there is nothing to export.
pub async fn create(
    tx: &mut TenantTx,
    _may: &ManageCharges,
    export: &NewExport<'_>,
) -> Result<Option<ExportRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH cand AS ( \
             SELECT c.*, CASE c.status WHEN 'READY' THEN '1' WHEN 'VOID' THEN '8' ELSE '7' END AS code \
             FROM charges c \
             WHERE c.organization_id = $1 AND c.service_date BETWEEN $2 AND $3 \
               AND ($4::text IS NULL OR c.payer_name = $4) \
               AND (c.status = 'READY' OR cardinality(c.exported_codes) > 0) \
               AND ((c.status = 'READY' AND NOT '1' = ANY (c.exported_codes)) \
                 OR (c.status = 'VOID' AND '1' = ANY (c.exported_codes) AND NOT '8' = ANY (c.exported_codes)) \
                 OR (c.status = 'EXPORTED' AND c.version > c.exported_version \
                     AND NOT '7' = ANY (c.exported_codes))) \
             ORDER BY c.id \
             FOR UPDATE OF c SKIP LOCKED), \
         e AS ( \
             INSERT INTO charge_exports (organization_id, id, format, from_date, to_date, payer_name, \
                 charge_count, total_charge_cents, created_by) \
             SELECT $1, haven_units.uuid_v7(), $5, $2, $3, $4, count(*), \
                    coalesce(sum(charge_cents) FILTER (WHERE code <> '8'), 0), $6 \
             FROM cand HAVING count(*) > 0 \
             RETURNING {COLUMNS}), \
         i AS ( \
             INSERT INTO charge_export_items (organization_id, export_id, charge_id, frequency_code, \
                 charge_version, patient_id, authorization_id, rendering_provider_id, payer_name, \
                 service_date, cpt_code, modifiers, diagnosis_codes, diagnosis_pointers, \
                 place_of_service, units, charge_cents) \
             SELECT $1, e.id, c.id, c.code, c.version, c.patient_id, c.authorization_id, \
                    c.rendering_provider_id, c.payer_name, c.service_date, c.cpt_code, c.modifiers, \
                    c.diagnosis_codes, c.diagnosis_pointers, c.place_of_service, c.units, c.charge_cents \
             FROM cand c CROSS JOIN e \
             RETURNING charge_id, frequency_code), \
         u AS ( \
             UPDATE charges c SET \
                 status = CASE WHEN i.frequency_code = '1' THEN 'EXPORTED' ELSE c.status END, \
                 exported_codes = c.exported_codes || i.frequency_code, \
                 exported_version = c.version, updated_at = now() \
             FROM i WHERE c.organization_id = $1 AND c.id = i.charge_id) \
         SELECT {COLUMNS} FROM e"
    )))
    .bind(org)
    .bind(export.from)
    .bind(export.to)
    .bind(export.payer_name)
    .bind(export.format)
    .bind(export.by)
    .fetch_optional(tx.conn())
    .await
}

/// Export `id` of the transaction's organization.
pub async fn find(
    tx: &mut TenantTx,
    _may: &ManageCharges,
    id: ChargeExportId,
) -> Result<Option<ExportRow>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM charge_exports WHERE organization_id = $1 AND id = $2"
    )))
    .bind(org)
    .bind(id)
    .fetch_optional(tx.conn())
    .await
}

/// The organization holding export `id`, across tenants (ids only).
pub async fn organization_of(
    tx: &mut TenantTx,
    id: ChargeExportId,
) -> Result<Option<OrganizationId>, sqlx::Error> {
    sqlx::query_scalar("SELECT haven_auth.charge_export_organization($1)")
        .bind(id)
        .fetch_one(tx.conn())
        .await
}

/// A page of the organization's exports, newest first, and the total.
pub async fn list(
    tx: &mut TenantTx,
    _may: &ManageCharges,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ExportRow>, i64), sqlx::Error> {
    let org = tx.organization_id();
    let query = super::page_query(
        COLUMNS,
        "FROM charge_exports WHERE organization_id = $1",
        "created_at DESC, id DESC",
        2,
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(query))
        .bind(org)
        .bind(limit)
        .bind(offset)
        .fetch_all(tx.conn())
        .await?;
    super::read_page(&rows)
}

/// One exported line with what its claim needs (demographics and member id still encrypted).
#[derive(Debug, Clone, FromRow)]
pub struct ItemRow {
    /// The charge.
    pub charge_id: ChargeId,
    /// 1, 7 or 8.
    pub frequency_code: String,
    /// Whose.
    pub patient_id: PatientId,
    /// The authorization (its id is the prior-authorization reference).
    pub authorization_id: AuthorizationId,
    /// The clinician.
    pub rendering_provider_id: Option<UserId>,
    /// The payer.
    pub payer_name: String,
    /// Date of service.
    pub service_date: NaiveDate,
    /// CPT/HCPCS.
    pub cpt_code: String,
    /// Modifiers.
    pub modifiers: Vec<String>,
    /// The line's diagnosis codes.
    pub diagnosis_codes: Vec<String>,
    /// Pointers into them.
    pub diagnosis_pointers: Vec<i16>,
    /// Place of service.
    pub place_of_service: String,
    /// Units.
    pub units: i32,
    /// Amount.
    pub charge_cents: i64,
    /// Encrypted first name.
    pub first_name: Vec<u8>,
    /// Encrypted last name.
    pub last_name: Vec<u8>,
    /// Encrypted date of birth.
    pub date_of_birth: Vec<u8>,
    /// Encrypted member id.
    pub member_id: Option<Vec<u8>>,
}

/// Opens a cursor over export `id`'s lines in claim order (patient, payer, rendering provider,
/// frequency code, authorization, date of service); read it with [`fetch`]. The transaction
/// must stay open while it is read.
pub async fn open_cursor(
    tx: &mut TenantTx,
    _may: &ManageCharges,
    id: ChargeExportId,
) -> Result<(), sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query(
        "DECLARE charge_export_lines NO SCROLL CURSOR FOR \
         SELECT i.charge_id, i.frequency_code, i.patient_id, i.authorization_id, \
                i.rendering_provider_id, i.payer_name, i.service_date, i.cpt_code, i.modifiers, \
                i.diagnosis_codes, i.diagnosis_pointers, i.place_of_service, i.units, i.charge_cents, \
                p.first_name, p.last_name, p.date_of_birth, a.member_id \
         FROM charge_export_items i \
         JOIN patients p ON p.organization_id = i.organization_id AND p.id = i.patient_id \
         JOIN authorizations a ON a.organization_id = i.organization_id AND a.id = i.authorization_id \
         WHERE i.organization_id = $1 AND i.export_id = $2 \
         ORDER BY i.patient_id, i.payer_name, i.rendering_provider_id, i.frequency_code, \
                  i.authorization_id, i.service_date, i.charge_id",
    )
    .bind(org)
    .bind(id)
    .execute(tx.conn())
    .await
    .map(drop)
}

/// The next `batch` lines of the cursor [`open_cursor`] opened (empty at the end).
pub async fn fetch(tx: &mut TenantTx, batch: u32) -> Result<Vec<ItemRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "FETCH FORWARD {batch} FROM charge_export_lines"
    )))
    .fetch_all(tx.conn())
    .await
}

/// The patients of export `id` and how many lines each has, for the download's audit trail.
pub async fn patients(
    tx: &mut TenantTx,
    _may: &ManageCharges,
    id: ChargeExportId,
) -> Result<Vec<(PatientId, i64)>, sqlx::Error> {
    let org = tx.organization_id();
    sqlx::query_as(
        "SELECT patient_id, count(*) FROM charge_export_items \
         WHERE organization_id = $1 AND export_id = $2 GROUP BY patient_id ORDER BY patient_id",
    )
    .bind(org)
    .bind(id)
    .fetch_all(tx.conn())
    .await
}
