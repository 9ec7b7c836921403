//! Reading the sealed audit log.

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::PgArguments;
use sqlx::{Arguments as _, FromRow};
use uuid::Uuid;

use crate::db::TenantTx;
use crate::ids::{OrganizationId, UserId};

/// One sealed event as the API shows it.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogEntry {
    /// The event.
    pub id: Uuid,
    /// Its chain.
    pub organization_id: OrganizationId,
    /// Its place in the chain.
    #[schema(minimum = 1)]
    pub sequence: i64,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// Who acted.
    pub user_id: Option<UserId>,
    /// Their role.
    #[schema(value_type = Option<crate::domain::Role>)]
    pub role: Option<String>,
    /// What happened.
    #[schema(value_type = crate::audit::AuditAction)]
    pub action: String,
    /// To what kind of thing.
    pub entity_type: Option<String>,
    /// To which one.
    pub entity_id: Option<String>,
    /// The patient concerned.
    pub patient_id: Option<Uuid>,
    /// normal, break_the_glass, super_admin_bypass, system.
    #[schema(value_type = crate::audit::AccessMethod)]
    pub access_method: String,
    /// success, denied, error.
    #[schema(value_type = crate::audit::Outcome)]
    pub outcome: String,
    /// Client address.
    pub ip: Option<String>,
    /// Client software.
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Structured, non-identifying facts.
    #[schema(value_type = Object)]
    pub details: Value,
    /// Previous hash, hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub prev_hash: String,
    /// This event's hash, hex.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub hash: String,
}

/// The columns, shaped for [`AuditLogEntry`].
pub const ENTRY_COLUMNS: &str = "id, organization_id, sequence, occurred_at AS timestamp, user_id, role, action, \
     entity_type, entity_id, patient_id, access_method, outcome, host(ip) AS ip, user_agent, \
     request_id, details, encode(prev_hash, 'hex') AS prev_hash, encode(hash, 'hex') AS hash";

/// Filters of `GET /api/audit-logs` (all optional, combined with AND; `to` is exclusive).
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// Action name.
    pub action: Option<String>,
    /// Actor.
    pub user_id: Option<UserId>,
    /// Patient.
    pub patient_id: Option<Uuid>,
    /// From this instant on.
    pub from: Option<DateTime<Utc>>,
    /// Before this instant.
    pub to: Option<DateTime<Utc>>,
}

const WHERE: &str = "WHERE organization_id = $1 \
       AND ($2::text IS NULL OR action = $2) \
       AND ($3::uuid IS NULL OR user_id = $3) \
       AND ($4::uuid IS NULL OR patient_id = $4) \
       AND ($5::timestamptz IS NULL OR occurred_at >= $5) \
       AND ($6::timestamptz IS NULL OR occurred_at < $6)";

/// The arguments of [`WHERE`] (`$1`–`$6`), then `extra` (`$7`…).
fn arguments(
    org: OrganizationId,
    filter: &AuditFilter,
    extra: &[i64],
) -> Result<PgArguments, sqlx::Error> {
    let mut args = PgArguments::default();
    args.add(org).map_err(sqlx::Error::Encode)?;
    args.add(filter.action.clone())
        .map_err(sqlx::Error::Encode)?;
    args.add(filter.user_id).map_err(sqlx::Error::Encode)?;
    args.add(filter.patient_id).map_err(sqlx::Error::Encode)?;
    args.add(filter.from).map_err(sqlx::Error::Encode)?;
    args.add(filter.to).map_err(sqlx::Error::Encode)?;
    for value in extra {
        args.add(*value).map_err(sqlx::Error::Encode)?;
    }
    Ok(args)
}

/// One page of the organization's events, newest first, and the total.
pub async fn list(
    tx: &mut TenantTx,
    filter: &AuditFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AuditLogEntry>, i64), sqlx::Error> {
    let args = arguments(tx.organization_id(), filter, &[limit, offset])?;
    let sql = super::page_query(
        ENTRY_COLUMNS,
        &format!("FROM audit_log {WHERE}"),
        "occurred_at DESC, sequence DESC",
        7,
    );
    let rows = sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
        .fetch_all(tx.conn())
        .await?;
    super::read_page(&rows)
}

/// How many distinct patients the organization's events matching `filter` name: an export's
/// reach, recorded in its audit row for breach detection (`BULK_EXPORT`). As long a scan as the
/// export itself; the caller lifts the statement timeout.
pub async fn distinct_patients(
    tx: &mut TenantTx,
    filter: &AuditFilter,
) -> Result<i64, sqlx::Error> {
    let args = arguments(tx.organization_id(), filter, &[])?;
    let sql = format!("SELECT count(DISTINCT patient_id) FROM audit_log {WHERE}");
    sqlx::query_scalar_with(sqlx::AssertSqlSafe(sql), args)
        .fetch_one(tx.conn())
        .await
}

/// All the organization's events matching `filter`, oldest first, as a stream (for exports:
/// never all in memory).
pub fn stream<'a>(
    tx: &'a mut TenantTx,
    filter: &AuditFilter,
) -> impl futures_util::Stream<Item = Result<AuditLogEntry, sqlx::Error>> + 'a {
    let sql =
        format!("SELECT {ENTRY_COLUMNS} FROM audit_log {WHERE} ORDER BY occurred_at, sequence");
    let org = tx.organization_id();
    match arguments(org, filter, &[]) {
        Ok(args) => sqlx::query_as_with(sqlx::AssertSqlSafe(sql), args)
            .fetch(tx.conn())
            .boxed(),
        Err(error) => futures_util::stream::once(async move { Err(error) }).boxed(),
    }
}
