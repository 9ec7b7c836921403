//! `GET /api/patients/{id}`.

use axum::extract::State;
use serde_json::{Value, json};
use uuid::Uuid;

use super::codec::to_json;
use super::lookup::{find_visible, refuse};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::policy;

/// `GET /api/patients/{id}` → `{patient}` (billing sees name, date of birth and MRN only). The
/// read's audit row commits before the PHI leaves.
pub async fn get_patient(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<Value>, AppError> {
    if !policy::may_use_patients(&caller) {
        return Err(refuse(&state, &caller, &meta, "get_patient", Some(id)).await);
    }
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (row, access) = find_visible(&state, &mut tx, &caller, &meta, id).await?;
    let patient = to_json(&state, &mut tx, &row, access.view).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::PatientRead)
            .with_actor(caller.user_id, caller.role)
            .with_access_method(access.method)
            .with_entity("patient", id)
            .with_patient(id)
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(json!({ "patient": patient })))
}
