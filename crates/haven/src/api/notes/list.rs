//! `GET /api/notes`: headers only, never content.

use std::collections::BTreeSet;

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;

use super::codec::{NoteHeaderView, NoteList};
use crate::api::pagination::Page;
use crate::api::time_range::bound;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::ids::{PatientId, UserId};
use crate::notes::format::Status;
use crate::policy::notes as policy;
use crate::store::notes::{self, Filter};

/// The query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct NoteQuery {
    /// Page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<i64>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// One patient's.
    patient_id: Option<PatientId>,
    /// DRAFT, PENDING_COSIGN, SIGNED or ENTERED_IN_ERROR.
    status: Option<String>,
    /// One author's.
    author_id: Option<UserId>,
    /// Due before (a date, or an RFC 3339 timestamp).
    #[param(example = "2027-03-31")]
    due_before: Option<String>,
    /// `true`: only notes waiting for the caller's co-signature (their supervisees').
    awaiting_my_cosign: Option<bool>,
}

fn filter(query: &NoteQuery) -> Result<Filter, AppError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            Status::parse(&s.trim().to_ascii_uppercase())
                .map(|s| s.as_str().to_owned())
                .ok_or_else(|| {
                    AppError::invalid_field(
                        "status",
                        "must be DRAFT, PENDING_COSIGN, SIGNED or ENTERED_IN_ERROR",
                    )
                })
        })
        .transpose()?;
    let due_before = query
        .due_before
        .as_deref()
        .map(|d| bound("dueBefore", d, false))
        .transpose()?;
    Ok(Filter {
        patient_id: query.patient_id,
        status,
        author_id: query.author_id,
        due_before,
        awaiting_my_cosign: query.awaiting_my_cosign.unwrap_or(false),
    })
}

/// List notes
///
/// Headers only (type, dates, status, signer, due), never content, for every role that may
/// work with notes: ADMIN, BILLING and platform operators see the practice's; a CLINICIAN their
/// own, their supervisees' and their care-team patients'. `PSYCHOTHERAPY` notes are listed only
/// to their author and the author's supervisor. Audited `NOTE_LIST` once per patient on the
/// page.
#[utoipa::path(
    get,
    path = "/",
    tag = "notes",
    params(NoteQuery),
    responses(
        (status = 200, description = "A page of note headers", body = NoteList),
        (status = 403, description = "SCHEDULER, COMPLIANCE (`FORBIDDEN`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn list_notes(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<NoteQuery>,
) -> Result<AppJson<NoteList>, AppError> {
    let may = policy::list(&caller, "list_notes")?;
    let page = Page::from_query(query.page, query.limit)?;
    let filter = filter(&query)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (rows, total) = notes::list(&mut tx, &may, &filter, page.limit, page.offset()).await?;
    let patients: BTreeSet<PatientId> = rows.iter().map(|r| r.patient_id).collect();
    let events: Vec<AuditEvent> = patients
        .into_iter()
        .map(|patient| {
            let shown = rows.iter().filter(|r| r.patient_id == patient).count();
            AuditEvent::new(AuditAction::NoteList)
                .by(caller.actor())
                .with_access_method(may.method())
                .with_entity("patient", patient)
                .with_patient(patient)
                .with_details(json!({ "notes": shown }))
                .with_request(&meta)
        })
        .collect();
    audit::record_many(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(AppJson(NoteList {
        notes: rows.iter().map(NoteHeaderView::new).collect(),
        pagination: page.info(total),
    }))
}
