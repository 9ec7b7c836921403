//! `GET /api/authorizations/{id}`.

use axum::extract::State;
use serde_json::{Value, json};
use uuid::Uuid;

use super::codec::to_json;
use super::lookup::{find_visible, may_use_units, refuse};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;

/// `GET /api/authorizations/{id}` → `{authorization}`. An authorization is part of the patient's
/// record (its member id is PHI): the read is audited as `PATIENT_READ` of the authorization,
/// committed before the response leaves.
pub async fn get_authorization(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<Value>, AppError> {
    if !may_use_units(&caller) {
        return Err(refuse(
            &state,
            &caller,
            &meta,
            "get_authorization",
            Some(("authorization", id)),
        )
        .await);
    }
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (row, access) = find_visible(&state, &mut tx, &caller, &meta, id).await?;
    let authorization = to_json(&state, &mut tx, &row).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::PatientRead)
            .with_actor(caller.user_id, caller.role)
            .with_access_method(access.method)
            .with_entity("authorization", id)
            .with_patient(row.patient_id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(json!({ "authorization": authorization })))
}
