//! `GET /api/patients/{id}`.

use axum::extract::State;
use serde_json::{Value, json};
use uuid::Uuid;

use super::codec::to_json;
use super::lookup::open_visible;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;

/// `GET /api/patients/{id}` → `{patient}` (billing sees name, date of birth and MRN only). The
/// read's audit row commits before the PHI leaves.
pub async fn get_patient(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<Value>, AppError> {
    let (mut tx, row, access) = open_visible(&state, &caller, &meta, id, "get_patient").await?;
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
