//! `GET /api/admin/btg/grants` (ADMIN, COMPLIANCE).

use std::collections::{BTreeSet, HashMap};

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::OVERSEERS;
use crate::api::access::require_role;
use crate::api::pagination::Page;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::domain::Role;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::ids::UserId;
use crate::phi::FieldRef;
use crate::store::btg::{self as store, GrantRow, PatientNameRow, StaffRow, Status};

/// `?status=active|expired|revoked|all&page&limit` (status defaults to `all`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GrantQuery {
    status: Option<String>,
    page: Option<i64>,
    limit: Option<i64>,
}

fn status(value: Option<&str>) -> Result<Status, AppError> {
    match value {
        None | Some("all") => Ok(Status::All),
        Some("active") => Ok(Status::Active),
        Some("expired") => Ok(Status::Expired),
        Some("revoked") => Ok(Status::Revoked),
        Some(_) => Err(AppError::invalid_field(
            "status",
            "must be active, expired, revoked or all",
        )),
    }
}

/// `GET /api/admin/btg/grants` → `{grants, count, pagination}`, newest first; `count` is the
/// number of grants with that status. An ADMIN sees each patient's name and MRN (decrypted,
/// each patient shown audited `PATIENT_LIST` before the response leaves); COMPLIANCE sees the
/// patient id only.
pub async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<GrantQuery>,
) -> Result<AppJson<Value>, AppError> {
    require_role(&state, &caller, &meta, OVERSEERS, "list_btg_grants").await?;
    let status = status(query.status.as_deref())?;
    let page = Page::from_query(query.page, query.limit)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (rows, total) = store::list(&mut tx, status, page.limit, page.offset()).await?;
    let user_ids: Vec<UserId> = rows
        .iter()
        .flat_map(|g| [g.granted_by_user_id, g.granted_to_user_id])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let staff: HashMap<UserId, StaffRow> = store::staff(&mut tx, &user_ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let patient_ids: Vec<Uuid> = rows
        .iter()
        .map(|g| g.patient_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut patients: HashMap<Uuid, Value> = HashMap::new();
    if caller.role == Role::Admin {
        for row in store::patient_names(&mut tx, &patient_ids).await? {
            patients.insert(row.id, open_patient(&state, &mut tx, &row).await?);
        }
        let events: Vec<AuditEvent> = patients
            .keys()
            .map(|patient| {
                AuditEvent::new(AuditAction::PatientList)
                    .with_actor(caller.user_id, caller.role)
                    .with_entity("patient", patient)
                    .with_patient(*patient)
                    .with_details(json!({ "source": "btg_grants", "page": page.page }))
                    .with_request(&meta)
            })
            .collect();
        audit::record_many(&mut tx, &events).await?;
    }
    tx.commit().await?;
    let grants: Vec<Value> = rows
        .iter()
        .map(|grant| to_json(grant, &staff, &patients))
        .collect();
    Ok(AppJson(json!({
        "grants": grants,
        "count": total,
        "pagination": page.info(total),
    })))
}

fn to_json(
    grant: &GrantRow,
    staff: &HashMap<UserId, StaffRow>,
    patients: &HashMap<Uuid, Value>,
) -> Value {
    let user = |id: UserId| {
        staff
            .get(&id)
            .map_or_else(|| json!({ "id": id }), |u| json!(u))
    };
    json!({
        "id": grant.id,
        "grantedByUser": user(grant.granted_by_user_id),
        "grantedToUser": user(grant.granted_to_user_id),
        "patient": patients
            .get(&grant.patient_id)
            .cloned()
            .unwrap_or_else(|| json!({ "id": grant.patient_id })),
        "justification": grant.justification,
        "durationMinutes": grant.duration_minutes,
        "expiresAt": grant.expires_at,
        "revokedAt": grant.revoked_at,
        "revokedReason": grant.revoked_reason,
        "reviewedAt": grant.reviewed_at,
        "reviewOutcome": grant.review_outcome,
        "createdAt": grant.created_at,
    })
}

/// `{id, firstName, lastName, medicalRecordNumber}`, decrypted; a field that does not decrypt
/// fails the request (never shown, never guessed).
async fn open_patient(
    state: &AppState,
    tx: &mut TenantTx,
    row: &PatientNameRow,
) -> Result<Value, AppError> {
    let mut out = Map::new();
    out.insert("id".into(), json!(row.id));
    for (name, column, blob) in [
        ("firstName", "first_name", &row.first_name),
        ("lastName", "last_name", &row.last_name),
        (
            "medicalRecordNumber",
            "medical_record_number",
            &row.medical_record_number,
        ),
    ] {
        let field = FieldRef {
            organization_id: tx.organization_id(),
            table: "patients",
            column,
            row: row.id,
        };
        let plain = state
            .keyring()
            .decrypt(tx, &field, blob)
            .await
            .map_err(|_| {
                AppError::Internal(anyhow::anyhow!("patient field {column} does not decrypt"))
            })?;
        out.insert(name.into(), Value::String(plain.as_str().to_owned()));
    }
    Ok(Value::Object(out))
}
