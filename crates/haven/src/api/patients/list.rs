//! `GET /api/patients`.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::codec::to_json;
use super::create::phi_error;
use super::lookup::refuse;
use crate::api::pagination::Page;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::domain::{parse_mrn, parse_name};
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::policy;
use crate::store::patients::{self, Lookup};

/// `?page&limit&mrn&lastName` (exact, case-insensitive matches).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatientQuery {
    page: Option<i64>,
    limit: Option<i64>,
    mrn: Option<String>,
    last_name: Option<String>,
}

/// `GET /api/patients` → `{patients, pagination}`: only those the caller may see. Every
/// patient returned is audited (`PATIENT_LIST`, one row each) before the response leaves.
pub async fn list_patients(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<PatientQuery>,
) -> Result<AppJson<Value>, AppError> {
    let Some((scope, view)) = policy::list_scope(&caller) else {
        return Err(refuse(&state, &caller, &meta, "list_patients", None).await);
    };
    let page = Page::from_query(query.page, query.limit)?;
    let mrn = query
        .mrn
        .as_deref()
        .map(|m| parse_mrn(m).map_err(|e| AppError::invalid_field("mrn", e)))
        .transpose()?;
    let last_name = query
        .last_name
        .as_deref()
        .map(|n| parse_name(n, 100).map_err(|e| AppError::invalid_field("lastName", e)))
        .transpose()?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let lookup = if mrn.is_some() || last_name.is_some() {
        let blind = state
            .keyring()
            .blind_key(&mut tx)
            .await
            .map_err(phi_error)?;
        Lookup {
            mrn_index: mrn.map(|m| blind.mrn_index("medical_record_number", &m)),
            last_name_index: last_name.map(|n| blind.index("last_name", &n)),
        }
    } else {
        Lookup::default()
    };
    let (rows, total) = patients::list(&mut tx, scope, lookup, page.limit, page.offset()).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(to_json(&state, &mut tx, row, view).await?);
    }
    let events: Vec<AuditEvent> = rows
        .iter()
        .map(|row| {
            AuditEvent::new(AuditAction::PatientList)
                .with_actor(caller.user_id, caller.role)
                .with_access_method(policy::method_of(&caller))
                .with_entity("patient", row.id)
                .with_patient(row.id)
                .with_details(json!({ "page": page.page, "returned": rows.len() }))
                .with_request(&meta)
        })
        .collect();
    audit::record_many(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(AppJson(
        json!({ "patients": items, "pagination": page.info(total) }),
    ))
}
