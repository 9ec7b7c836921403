//! `GET /api/audit-logs/export?format=ndjson|csv`: the filtered log, streamed row by row (never
//! held in memory), oldest first. The export itself is audited (`AUDIT_EXPORT`) before the
//! first byte leaves.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use serde_json::json;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::filter::AuditQuery;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::policy::audit_log as policy;
use crate::store::audit_logs::{self, AuditFilter, AuditLogEntry};

/// The export's file format (`?format=`, default `ndjson`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "lowercase")]
enum Format {
    /// One JSON object per line, shaped like the entries of `GET /api/audit-logs`.
    Ndjson,
    /// RFC 4180 CSV with a header row; `details` is a JSON string.
    Csv,
}

const CSV_HEADER: &str = "id,organizationId,sequence,timestamp,userId,role,action,entityType,entityId,patientId,accessMethod,outcome,ip,userAgent,requestId,details,prevHash,hash\n";

/// One CSV field, quoted when it must be (RFC 4180).
fn csv_field(out: &mut String, value: &str) {
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

fn csv_line(entry: &AuditLogEntry) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let fields = [
        entry.id.to_string(),
        entry.organization_id.to_string(),
        entry.sequence.to_string(),
        entry
            .timestamp
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        entry.user_id.map(|u| u.to_string()).unwrap_or_default(),
        opt(&entry.role),
        entry.action.clone(),
        opt(&entry.entity_type),
        opt(&entry.entity_id),
        entry.patient_id.map(|p| p.to_string()).unwrap_or_default(),
        entry.access_method.clone(),
        entry.outcome.clone(),
        opt(&entry.ip),
        opt(&entry.user_agent),
        opt(&entry.request_id),
        entry.details.to_string(),
        entry.prev_hash.clone(),
        entry.hash.clone(),
    ];
    let mut line = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        csv_field(&mut line, field);
    }
    line.push('\n');
    line
}

fn render(format: Format, entry: &AuditLogEntry) -> String {
    match format {
        Format::Ndjson => {
            let mut line = serde_json::to_string(entry).unwrap_or_default();
            line.push('\n');
            line
        }
        Format::Csv => csv_line(entry),
    }
}

/// Export the audit log
///
/// Streams every event of the caller's organization that matches the filters, oldest first,
/// as NDJSON (one entry per line, the shape of `GET /api/audit-logs`'s entries) or CSV
/// (ADMIN, COMPLIANCE). There are no pages. The export itself is audited (`AUDIT_EXPORT`)
/// before the first byte is sent.
#[utoipa::path(
    get,
    path = "/export",
    tag = "audit",
    params(
        AuditQuery,
        ("format" = inline(Option<Format>), Query, description = "`ndjson` (the default) or `csv`"),
    ),
    responses(
        (status = 200, description = "The events, streamed as an attachment (`audit-log.ndjson` or `audit-log.csv`)", content(
            (String = "application/x-ndjson"),
            (String = "text/csv"),
        )),
    ),
)]
pub async fn export_audit_log(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<Response, AppError> {
    policy::read(&caller, "export_audit_log")?;
    let format = match query.format.as_deref() {
        Some("ndjson") | None => Format::Ndjson,
        Some("csv") => Format::Csv,
        Some(_) => return Err(AppError::invalid_field("format", "must be ndjson or csv")),
    };
    if query.page.is_some() || query.limit.is_some() {
        return Err(AppError::invalid_field("limit", "the export has no pages"));
    }
    let filter = query.filter()?;
    state.sealer().flush().await?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    // The whole export is one statement, as long as the log is and the client slow to read.
    tx.allow_long_statements().await?;
    // How many patients the export reaches: breach detection flags one export of many.
    let patients = audit_logs::distinct_patients(&mut tx, &filter).await?;
    let event = AuditEvent::new(AuditAction::AuditExport)
        .by(caller.actor())
        .with_details(json!({
            "format": if format == Format::Csv { "csv" } else { "ndjson" },
            "from": filter.from,
            "to": filter.to,
            "patientCount": patients,
        }))
        .with_request(&meta);
    audit::record_alone(state.db(), caller.organization_id, &event).await?;

    let (sender, mut receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(32);
    tokio::spawn(stream_rows(tx, filter, format, sender));
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| {
        receiver.poll_recv(cx)
    }));
    let content_type = match format {
        Format::Ndjson => "application/x-ndjson",
        Format::Csv => "text/csv; charset=utf-8",
    };
    let filename = match format {
        Format::Ndjson => "attachment; filename=\"audit-log.ndjson\"",
        Format::Csv => "attachment; filename=\"audit-log.csv\"",
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static(filename),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

/// Reads the rows in a transaction of their own and sends them in chunks; stops when the client
/// goes away (the channel closes).
async fn stream_rows(
    mut tx: crate::db::TenantTx,
    filter: AuditFilter,
    format: Format,
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    if format == Format::Csv
        && sender
            .send(Ok(Bytes::from_static(CSV_HEADER.as_bytes())))
            .await
            .is_err()
    {
        return;
    }
    let mut rows = audit_logs::stream(&mut tx, &filter);
    let mut chunk = String::with_capacity(64 * 1024);
    loop {
        match rows.try_next().await {
            Ok(Some(entry)) => {
                chunk.push_str(&render(format, &entry));
                if chunk.len() >= 60 * 1024
                    && sender
                        .send(Ok(Bytes::from(std::mem::take(&mut chunk))))
                        .await
                        .is_err()
                {
                    return;
                }
            }
            Ok(None) => break,
            Err(error) => {
                tracing::error!(error = %crate::telemetry::loggable(&error), "audit export failed mid-stream");
                let _ = sender
                    .send(Err(std::io::Error::other("export failed")))
                    .await;
                return;
            }
        }
    }
    drop(rows);
    if !chunk.is_empty() {
        let _ = sender.send(Ok(Bytes::from(chunk))).await;
    }
    let _ = tx.commit().await;
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        let mut out = String::new();
        csv_field(&mut out, "plain");
        out.push('|');
        csv_field(&mut out, "a,\"b\"\nc");
        assert_eq!(out, "plain|\"a,\"\"b\"\"\nc\"");
    }
}
