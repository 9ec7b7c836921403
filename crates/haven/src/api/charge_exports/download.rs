//! `GET /api/charge-exports/{id}/download`: the export's file, streamed from a cursor (one
//! batch of lines and one claim in memory at a time), audited before the first byte leaves.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::charges::claims::{CSV_HEADER, Claims, Line, Person, csv_row};
use crate::db::TenantTx;
use crate::http::error::AppError;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::{AuthorizationId, ChargeExportId, PatientId};
use crate::phi::FieldRef;
use crate::policy::Denial;
use crate::policy::charges as policy;
use crate::store::charge_exports::{self, ExportRow, ItemRow};

/// Lines fetched from the cursor at a time.
const BATCH: u32 = 500;

type Sender = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// Download an export.
///
/// `GET /api/charge-exports/{id}/download` → the file: `text/csv` (a header, then one row per
/// line) or `application/json` (837P-shaped claims: billing provider, subscriber, patient,
/// diagnosis codes, service lines with CPT, modifiers, units, charge, pointers, prior
/// authorization, frequency code; schema in `crates/haven/schemas/837p-json.schema.json`).
/// The same file every time (the lines are a snapshot). ADMIN and BILLING only; another
/// practice's export is 404, audited `CROSS_TENANT_ACCESS_ATTEMPT`. Audited as one
/// `CHARGE_EXPORT_DOWNLOAD` per patient in the file, committed before the first byte is sent.
#[utoipa::path(
    get,
    path = "/{id}/download",
    tag = "charges",
    params(("id" = Uuid, Path, description = "The export's id")),
    responses(
        (status = 200, description = "The file, streamed as an attachment", content(
            (String = "text/csv"),
            (String = "application/json"),
        )),
        (status = 403, description = "Not ADMIN or BILLING (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 404, description = "No such export in the practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn download_charge_export(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<ChargeExportId>,
) -> Result<Response, AppError> {
    let may = policy::manage(&caller, "download_charge_export")?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let Some(export) = charge_exports::find(&mut tx, &may, id).await? else {
        let owner = charge_exports::organization_of(&mut tx, id).await?;
        return Err(Denial::not_found(&caller, "charge_export", id, owner).into());
    };
    // One row per patient whose lines the file holds, committed before the first byte.
    let events: Vec<AuditEvent> = charge_exports::patients(&mut tx, &may, id)
        .await?
        .into_iter()
        .map(|(patient, lines)| {
            AuditEvent::new(AuditAction::ChargeExportDownload)
                .by(caller.actor())
                .with_entity("charge_export", id)
                .with_patient(patient)
                .with_details(json!({ "format": export.format, "charges": lines }))
                .with_request(&meta)
        })
        .collect();
    let mut audit_tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    audit::record_many(&mut audit_tx, &events).await?;
    audit_tx.commit().await?;

    charge_exports::open_cursor(&mut tx, &may, id).await?;
    let (sender, mut receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let csv = export.format == "csv";
    let (content_type, disposition) = if csv {
        (
            "text/csv; charset=utf-8",
            format!("attachment; filename=\"charges-{id}.csv\""),
        )
    } else {
        (
            "application/json",
            format!("attachment; filename=\"charges-{id}.837p.json\""),
        )
    };
    tokio::spawn(stream_lines(state.clone(), tx, export, sender));
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| {
        receiver.poll_recv(cx)
    }));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .map_err(|e| AppError::Internal(anyhow::anyhow!("disposition: {e}")))?,
            ),
        ],
        body,
    )
        .into_response())
}

fn header_of(export: &ExportRow, organization: &Value) -> String {
    let head = json!({
        "format": "837p-json",
        "schemaVersion": 1,
        "export": {
            "id": export.id,
            "createdAt": export.created_at,
            "from": export.from_date,
            "to": export.to_date,
            "payerName": export.payer_name,
        },
        "billingProvider": organization,
    })
    .to_string();
    // The document is the header object with the claims array appended, streamed.
    let open = head.strip_suffix('}').unwrap_or(&head).to_owned();
    format!("{open},\"claims\":[")
}

/// Decrypts the demographics of a line (cached per patient and authorization for the batch
/// run: a patient's lines come together).
struct Decryptor {
    state: AppState,
    people: HashMap<PatientId, Person>,
    members: HashMap<AuthorizationId, Option<String>>,
}

impl Decryptor {
    async fn open(
        &self,
        tx: &mut TenantTx,
        table: &'static str,
        column: &'static str,
        row: uuid::Uuid,
        blob: &[u8],
    ) -> Result<String, anyhow::Error> {
        let reference = FieldRef {
            organization_id: tx.organization_id(),
            table,
            column,
            row,
        };
        let plain = self
            .state
            .keyring()
            .decrypt(tx, &reference, blob)
            .await
            .map_err(|_| anyhow::anyhow!("{table}.{column} does not decrypt"))?;
        Ok(plain.as_str().to_owned())
    }

    async fn line(&mut self, tx: &mut TenantTx, item: ItemRow) -> Result<Line, anyhow::Error> {
        if !self.people.contains_key(&item.patient_id) {
            if self.people.len() > 1000 {
                self.people.clear();
            }
            let row = item.patient_id.as_uuid();
            let person = Person {
                first_name: self
                    .open(tx, "patients", "first_name", row, &item.first_name)
                    .await?,
                last_name: self
                    .open(tx, "patients", "last_name", row, &item.last_name)
                    .await?,
                date_of_birth: self
                    .open(tx, "patients", "date_of_birth", row, &item.date_of_birth)
                    .await?,
            };
            self.people.insert(item.patient_id, person);
        }
        if !self.members.contains_key(&item.authorization_id) {
            if self.members.len() > 1000 {
                self.members.clear();
            }
            let member = match &item.member_id {
                Some(blob) => Some(
                    self.open(
                        tx,
                        "authorizations",
                        "member_id",
                        item.authorization_id.as_uuid(),
                        blob,
                    )
                    .await?,
                ),
                None => None,
            };
            self.members.insert(item.authorization_id, member);
        }
        Ok(Line {
            patient: self.people[&item.patient_id].clone(),
            member_id: self.members[&item.authorization_id].clone(),
            charge_id: item.charge_id,
            frequency_code: item.frequency_code,
            patient_id: item.patient_id,
            authorization_id: item.authorization_id,
            rendering_provider_id: item.rendering_provider_id,
            payer_name: item.payer_name,
            service_date: item.service_date,
            cpt_code: item.cpt_code,
            modifiers: item.modifiers,
            diagnosis_codes: item.diagnosis_codes,
            diagnosis_pointers: item.diagnosis_pointers,
            place_of_service: item.place_of_service,
            units: item.units,
            charge_cents: item.charge_cents,
        })
    }
}

async fn send(sender: &Sender, chunk: &mut String) -> bool {
    sender
        .send(Ok(Bytes::from(std::mem::take(chunk))))
        .await
        .is_ok()
}

/// Reads the cursor batch by batch in the request's own transaction and sends the file in
/// chunks; stops when the client goes away (the channel closes).
async fn stream_lines(state: AppState, mut tx: TenantTx, export: ExportRow, sender: Sender) {
    if let Err(error) = write_lines(&state, &mut tx, &export, &sender).await {
        tracing::error!(error = %crate::telemetry::loggable(&*error), "charge export failed mid-stream");
        let _ = sender
            .send(Err(std::io::Error::other("export failed")))
            .await;
        return;
    }
    let _ = tx.commit().await;
}

async fn write_lines(
    state: &AppState,
    tx: &mut TenantTx,
    export: &ExportRow,
    sender: &Sender,
) -> Result<(), anyhow::Error> {
    let csv = export.format == "csv";
    let mut chunk = String::with_capacity(64 * 1024);
    if csv {
        chunk.push_str(CSV_HEADER);
    } else {
        let name: String = sqlx::query_scalar("SELECT name FROM organizations WHERE id = $1")
            .bind(tx.organization_id())
            .fetch_one(tx.conn())
            .await?;
        let provider = json!({ "organizationId": tx.organization_id(), "name": name });
        chunk.push_str(&header_of(export, &provider));
    }
    let mut decryptor = Decryptor {
        state: state.clone(),
        people: HashMap::new(),
        members: HashMap::new(),
    };
    let mut claims = Claims::default();
    let mut first_claim = true;
    let mut put_claim = |chunk: &mut String, claim: Value| {
        if !std::mem::take(&mut first_claim) {
            chunk.push(',');
        }
        chunk.push_str(&claim.to_string());
    };
    loop {
        let batch = charge_exports::fetch(tx, BATCH).await?;
        if batch.is_empty() {
            break;
        }
        for item in batch {
            let line = decryptor.line(tx, item).await?;
            if csv {
                chunk.push_str(&csv_row(&line));
            } else if let Some(claim) = claims.push(&line) {
                put_claim(&mut chunk, claim);
            }
        }
        if chunk.len() >= 60 * 1024 && !send(sender, &mut chunk).await {
            return Ok(());
        }
    }
    if !csv {
        if let Some(claim) = claims.finish() {
            put_claim(&mut chunk, claim);
        }
        chunk.push_str("]}");
    }
    if !chunk.is_empty() {
        send(sender, &mut chunk).await;
    }
    Ok(())
}
