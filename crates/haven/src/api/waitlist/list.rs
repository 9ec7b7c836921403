//! `GET /api/waitlist`.

use std::collections::BTreeSet;

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;

use super::codec::{EntryStatus, Priority, WaitlistEntry, WaitlistEntryList};
use super::lookup::open_notes;
use crate::api::pagination::Page;
use crate::app::AppState;
use crate::audit::{self, AccessMethod, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppQuery;
use crate::ids::{PatientId, UserId};
use crate::policy::patients::View;
use crate::policy::waitlist as policy;
use crate::store::waitlist::{self, Filter};
use crate::units::parse_service_code;

/// The query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct WaitlistQuery {
    /// Page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<i64>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// One status (an ACTIVE entry past its expiry is EXPIRED).
    #[param(value_type = Option<EntryStatus>, inline)]
    status: Option<String>,
    /// One service.
    #[param(example = "97153")]
    service_code: Option<String>,
    /// Entries that prefer this clinician or name none.
    clinician_id: Option<UserId>,
    /// One priority.
    #[param(value_type = Option<Priority>, inline)]
    priority: Option<String>,
}

fn filter(query: &WaitlistQuery) -> Result<Filter, AppError> {
    let mut details = Details::new();
    let status = query.status.as_deref().and_then(|s| {
        EntryStatus::parse(&s.trim().to_ascii_uppercase())
            .map(|s| s.as_str().to_owned())
            .or_else(|| {
                details.insert(
                    "status".into(),
                    "must be ACTIVE, BOOKED, REMOVED or EXPIRED".into(),
                );
                None
            })
    });
    let service_code = query.service_code.as_deref().and_then(|c| {
        parse_service_code(c)
            .map_err(|e| details.insert("serviceCode".into(), e))
            .ok()
    });
    let priority = super::prefs::priority(query.priority.as_deref(), &mut details);
    if !details.is_empty() {
        return Err(AppError::validation("The filter is not valid", details));
    }
    Ok(Filter {
        status,
        service_code,
        clinician_id: query.clinician_id,
        priority: priority.map(|p| p.as_str().to_owned()),
    })
}

/// List the waitlist
///
/// Ranked: URGENT first, then longest waiting. ADMIN and SCHEDULER see the practice's; a
/// CLINICIAN their care-team patients' entries. Audited `WAITLIST_LIST` once per patient on
/// the page.
#[utoipa::path(
    get,
    path = "/",
    tag = "waitlist",
    params(WaitlistQuery),
    responses(
        (status = 200, description = "A page of entries", body = WaitlistEntryList),
        (status = 400, description = "A filter is not valid (`VALIDATION_ERROR`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn list_waitlist(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<WaitlistQuery>,
) -> Result<AppJson<WaitlistEntryList>, AppError> {
    let may = policy::manage(&caller, "list_waitlist")?;
    let page = Page::from_query(query.page, query.limit)?;
    let filter = filter(&query)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (rows, total) = waitlist::list(&mut tx, &may, &filter, page.limit, page.offset()).await?;
    let patients: BTreeSet<PatientId> = rows.iter().map(|r| r.patient_id).collect();
    let events: Vec<AuditEvent> = patients
        .into_iter()
        .map(|patient| {
            let shown = rows.iter().filter(|r| r.patient_id == patient).count();
            AuditEvent::new(AuditAction::WaitlistList)
                .by(caller.actor())
                .with_access_method(may.method())
                .with_entity("patient", patient)
                .with_patient(patient)
                .with_details(json!({ "waitlistEntries": shown }))
                .with_request(&meta)
        })
        .collect();
    audit::record_many(&mut tx, &events).await?;
    let view = if may.method() == AccessMethod::SuperAdminBypass {
        View::Masked
    } else {
        View::Full
    };
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        let notes = open_notes(&state, &mut tx, row, view).await?;
        entries.push(WaitlistEntry::new(row, notes)?);
    }
    tx.commit().await?;
    Ok(AppJson(WaitlistEntryList {
        waitlist_entries: entries,
        pagination: page.info(total),
    }))
}
