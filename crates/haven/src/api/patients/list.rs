//! `GET /api/patients`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{Patient, to_patient};
use super::create::phi_error;
use crate::api::pagination::{Page, Pagination};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::domain::{MedicalRecordNumber, PersonName};
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::policy::patients as policy;
use crate::store::patients::{self, Lookup};

/// `?page&limit&mrn&lastName` (exact, case-insensitive matches).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PatientQuery {
    /// The page, from 1 (default 1).
    #[param(minimum = 1, maximum = 1_000_000)]
    page: Option<i64>,
    /// Items per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Only the patient with this medical record number (exact, case-insensitive).
    #[param(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    mrn: Option<String>,
    /// Only patients with this last name (exact, case-insensitive).
    #[param(
        min_length = 1,
        max_length = 100,
        pattern = r"^\s*[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*\s*$"
    )]
    last_name: Option<String>,
}

/// A page of patients.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientList {
    /// The patients on this page, oldest first.
    patients: Vec<Patient>,
    /// Where this page is.
    pagination: Pagination,
}

/// List patients.
///
/// Only the patients the caller may see: ADMIN and BILLING every patient of the practice, a
/// CLINICIAN those on their care team; COMPLIANCE may not (403). BILLING sees the name, date of
/// birth and MRN only (the other fields are absent). `mrn` and `lastName` are exact,
/// case-insensitive matches (looked up by blind index; there is no partial search). Every
/// patient returned is audited (`PATIENT_LIST`, one row each) before the response leaves.
#[utoipa::path(
    get,
    path = "/",
    tag = "patients",
    params(PatientQuery),
    responses((status = 200, description = "A page of patients, oldest first", body = PatientList)),
)]
pub async fn list_patients(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<PatientQuery>,
) -> Result<AppJson<PatientList>, AppError> {
    let may = policy::list(&caller, "list_patients")?;
    let page = Page::from_query(query.page, query.limit)?;
    let mrn = query
        .mrn
        .as_deref()
        .map(|m| MedicalRecordNumber::parse(m).map_err(|e| AppError::invalid_field("mrn", e)))
        .transpose()?;
    let last_name = query
        .last_name
        .as_deref()
        .map(|n| PersonName::parse(n).map_err(|e| AppError::invalid_field("lastName", e)))
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
            mrn_index: mrn.map(|m| blind.mrn_index("medical_record_number", m.as_str())),
            last_name_index: last_name.map(|n| blind.index("last_name", n.as_str())),
        }
    } else {
        Lookup::default()
    };
    let (rows, total) = patients::list(&mut tx, &may, lookup, page.limit, page.offset()).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(to_patient(&state, &mut tx, row, may.view()).await?);
    }
    let events: Vec<AuditEvent> = rows
        .iter()
        .map(|row| {
            AuditEvent::new(AuditAction::PatientList)
                .by(caller.actor())
                .with_access_method(may.method())
                .with_entity("patient", row.id)
                .with_patient(row.id)
                .with_details(json!({ "page": page.page, "returned": rows.len() }))
                .with_request(&meta)
        })
        .collect();
    audit::record_many(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(AppJson(PatientList {
        patients: items,
        pagination: page.info(total),
    }))
}
