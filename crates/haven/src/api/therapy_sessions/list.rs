//! `GET /api/sessions`.

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;

use super::codec::TherapySessionList;
use crate::api::pagination::Page;
use crate::api::time_range::bound;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::ids::{AuthorizationId, PatientId};
use crate::policy::patients as policy;
use crate::store::sessions_units::{self, Filter};
use crate::units::SessionStatus;

/// `?page&limit&patientId&authorizationId&status&from&to`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// The page, from 1 (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<i64>,
    /// Sessions per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Only this patient's sessions.
    patient_id: Option<PatientId>,
    /// Only the sessions using this authorization's units.
    authorization_id: Option<AuthorizationId>,
    /// Only sessions with this status (case-insensitive).
    #[param(value_type = Option<SessionStatus>, inline)]
    status: Option<String>,
    /// Only sessions starting at or after this: an RFC 3339 timestamp, or a date (`YYYY-MM-DD`,
    /// from its first instant, UTC). Years 2000–2100.
    #[param(example = "2026-01-01")]
    from: Option<String>,
    /// Only sessions starting before this: an RFC 3339 timestamp (exclusive), or a date
    /// (`YYYY-MM-DD`, through its last instant, UTC). Not before `from`. Years 2000–2100.
    #[param(example = "2026-01-31")]
    to: Option<String>,
}

fn filter(query: &SessionQuery) -> Result<Filter, AppError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            SessionStatus::parse(&s.trim().to_ascii_uppercase())
                .map(|s| s.as_str().to_owned())
                .ok_or_else(|| {
                    AppError::invalid_field(
                        "status",
                        "must be SCHEDULED, IN_PROGRESS, COMPLETED or CANCELLED",
                    )
                })
        })
        .transpose()?;
    let from = query
        .from
        .as_deref()
        .map(|f| bound("from", f, false))
        .transpose()?;
    let to = query
        .to
        .as_deref()
        .map(|t| bound("to", t, true))
        .transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(AppError::invalid_field("to", "must not be before from"));
    }
    Ok(Filter {
        patient_id: query.patient_id,
        authorization_id: query.authorization_id,
        status,
        from,
        to,
    })
}

/// Therapy sessions, by start time.
///
/// `GET /api/sessions` → `{sessions, pagination}`, earliest start first, filtered by the query.
/// ADMIN, BILLING and SUPER_ADMIN acting in a practice see every session of the practice; a
/// CLINICIAN only those of patients on their care team (an emergency grant opens a patient by
/// id, it does not add its sessions here); COMPLIANCE gets 403. Each session returned is audited
/// as `PATIENT_LIST` of its patient.
#[utoipa::path(
    get,
    path = "/",
    tag = "sessions",
    params(SessionQuery),
    responses((status = 200, description = "A page of the sessions the caller may see", body = TherapySessionList)),
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<SessionQuery>,
) -> Result<AppJson<TherapySessionList>, AppError> {
    let may = policy::list(&caller, "list_sessions")?;
    let page = Page::from_query(query.page, query.limit)?;
    let filter = filter(&query)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (rows, total) =
        sessions_units::list(&mut tx, &may, &filter, page.limit, page.offset()).await?;
    let events: Vec<AuditEvent> = rows
        .iter()
        .map(|row| {
            AuditEvent::new(AuditAction::PatientList)
                .by(caller.actor())
                .with_access_method(may.method())
                .with_entity("session", row.id)
                .with_patient(row.patient_id)
                .with_details(json!({ "page": page.page, "returned": rows.len() }))
                .with_request(&meta)
        })
        .collect();
    audit::record_many(&mut tx, &events).await?;
    let body = TherapySessionList::new(&rows, page.info(total))?;
    tx.commit().await?;
    Ok(AppJson(body))
}
