//! `GET /api/authorizations`.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::codec::to_json;
use super::lookup::refuse;
use crate::api::pagination::Page;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::policy;
use crate::store::authorizations::{self, Filter};
use crate::units::AUTHORIZATION_STATUSES;

/// `?page&limit&patientId&status&expiringWithinDays&lowUnits`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthorizationQuery {
    page: Option<i64>,
    limit: Option<i64>,
    patient_id: Option<Uuid>,
    status: Option<String>,
    expiring_within_days: Option<i64>,
    low_units: Option<bool>,
}

fn filter(query: &AuthorizationQuery) -> Result<Filter, AppError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            let s = s.trim().to_ascii_uppercase();
            if AUTHORIZATION_STATUSES.contains(&s.as_str()) {
                Ok(s)
            } else {
                Err(AppError::invalid_field(
                    "status",
                    "must be ACTIVE, EXHAUSTED, EXPIRED or CANCELLED",
                ))
            }
        })
        .transpose()?;
    let expiring_within_days = query
        .expiring_within_days
        .map(|days| {
            i32::try_from(days)
                .ok()
                .filter(|d| (0..=3660).contains(d))
                .ok_or_else(|| {
                    AppError::invalid_field(
                        "expiringWithinDays",
                        "must be a whole number from 0 to 3660",
                    )
                })
        })
        .transpose()?;
    Ok(Filter {
        patient_id: query.patient_id,
        status,
        expiring_within_days,
        low_units: query.low_units.unwrap_or(false),
    })
}

/// `GET /api/authorizations` → `{authorizations, pagination}`, soonest-ending first: only those
/// of patients the caller may see. `expiringWithinDays=N` lists the current ones ending within
/// N days (renewals), `lowUnits=true` those below their low-units threshold. Each one returned
/// is audited (`PATIENT_LIST`).
pub async fn list_authorizations(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<AuthorizationQuery>,
) -> Result<AppJson<Value>, AppError> {
    let Some((scope, _)) = policy::list_scope(&caller) else {
        return Err(refuse(&state, &caller, &meta, "list_authorizations", None).await);
    };
    let page = Page::from_query(query.page, query.limit)?;
    let filter = filter(&query)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (rows, total) =
        authorizations::list(&mut tx, scope, &filter, page.limit, page.offset()).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(to_json(&state, &mut tx, row).await?);
    }
    let events: Vec<AuditEvent> = rows
        .iter()
        .map(|row| {
            AuditEvent::new(AuditAction::PatientList)
                .with_actor(caller.user_id, caller.role)
                .with_access_method(policy::method_of(&caller))
                .with_entity("authorization", row.id)
                .with_patient(row.patient_id)
                .with_details(json!({ "page": page.page, "returned": rows.len() }))
                .with_request(&meta)
        })
        .collect();
    audit::record_many(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(AppJson(
        json!({ "authorizations": items, "pagination": page.info(total) }),
    ))
}
