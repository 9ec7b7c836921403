//! `GET /api/appointments`.

use std::collections::BTreeSet;

use axum::extract::State;
use serde::Deserialize;
use serde_json::json;

use super::codec::{Appointment, AppointmentList, Status};
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
use crate::policy::appointments as policy;
use crate::store::appointments::{self, Filter};

/// The query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct AppointmentQuery {
    /// Page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<i64>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// One clinician's.
    clinician_id: Option<UserId>,
    /// One patient's.
    patient_id: Option<PatientId>,
    /// One status.
    #[param(value_type = Option<Status>, inline)]
    status: Option<String>,
    /// Starting on or after (a date, or an RFC 3339 timestamp).
    #[param(example = "2027-03-01")]
    from: Option<String>,
    /// Starting on or before this date (or before this timestamp).
    #[param(example = "2027-03-31")]
    to: Option<String>,
}

fn filter(query: &AppointmentQuery) -> Result<Filter, AppError> {
    let status = query
        .status
        .as_deref()
        .map(|s| {
            Status::parse(&s.trim().to_ascii_uppercase())
                .map(|s| s.as_str().to_owned())
                .ok_or_else(|| {
                    AppError::invalid_field(
                        "status",
                        "must be HELD, BOOKED, CHECKED_IN, FULFILLED, CANCELLED or NO_SHOW",
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
        clinician_id: query.clinician_id,
        patient_id: query.patient_id,
        status,
        from,
        to,
    })
}

/// List appointments
///
/// ADMIN and SCHEDULER see the practice's; a CLINICIAN their own calendar and their care-team
/// patients' appointments. Audited `APPOINTMENT_LIST` once per patient on the page.
#[utoipa::path(
    get,
    path = "/",
    tag = "appointments",
    params(AppointmentQuery),
    responses((status = 200, description = "A page of appointments", body = AppointmentList)),
)]
pub async fn list_appointments(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppQuery(query): AppQuery<AppointmentQuery>,
) -> Result<AppJson<AppointmentList>, AppError> {
    let may = policy::schedule(&caller, "list_appointments")?;
    let page = Page::from_query(query.page, query.limit)?;
    let filter = filter(&query)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (rows, total) =
        appointments::list(&mut tx, &may, &filter, page.limit, page.offset()).await?;
    let patients: BTreeSet<PatientId> = rows.iter().map(|r| r.patient_id).collect();
    let events: Vec<AuditEvent> = patients
        .into_iter()
        .map(|patient| {
            let shown = rows.iter().filter(|r| r.patient_id == patient).count();
            AuditEvent::new(AuditAction::AppointmentList)
                .by(caller.actor())
                .with_access_method(may.method())
                .with_entity("patient", patient)
                .with_patient(patient)
                .with_details(json!({ "appointments": shown }))
                .with_request(&meta)
        })
        .collect();
    audit::record_many(&mut tx, &events).await?;
    let appointments = rows
        .iter()
        .map(Appointment::new)
        .collect::<Result<Vec<_>, _>>()?;
    tx.commit().await?;
    Ok(AppJson(AppointmentList {
        appointments,
        pagination: page.info(total),
    }))
}
