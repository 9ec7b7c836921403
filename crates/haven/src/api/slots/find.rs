//! `GET /api/availability`.

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::domain::parse_instant;
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::query::AppQuery;
use crate::ids::UserId;
use crate::policy::appointments as policy;
use crate::store::slots::{self, SlotQuery};
use crate::units::parse_service_code;

/// At most this many clinicians per request.
const MAX_CLINICIANS: usize = 200;

/// The query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SlotParams {
    /// Comma-separated clinician ids (at most 200); absent: every clinician with availability.
    clinician_ids: Option<String>,
    /// Only hours open to this service.
    #[param(example = "97153")]
    service_code: Option<String>,
    /// The slot's length, 15–480 minutes.
    #[param(minimum = 15, maximum = 480)]
    duration_minutes: i64,
    /// Window start (RFC 3339).
    #[param(example = "2027-03-15T00:00:00Z")]
    from: String,
    /// Window end (RFC 3339), after `from`, at most 31 days later.
    #[param(example = "2027-03-22T00:00:00Z")]
    to: String,
    /// Slots start on multiples of this many minutes, 5–240 (default 15).
    #[param(minimum = 5, maximum = 240)]
    granularity_minutes: Option<i64>,
    /// At most this many slots, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// A free slot.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    /// Whose.
    clinician_id: UserId,
    /// Start.
    start: DateTime<Utc>,
    /// End, exclusive.
    end: DateTime<Utc>,
}

/// `{"slots": [...], "truncated": bool}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotList {
    /// The free slots, earliest first.
    slots: Vec<Slot>,
    /// Whether there were more than `limit`.
    truncated: bool,
}

fn check(params: &SlotParams) -> Result<SlotQuery, AppError> {
    let mut details = Details::new();
    let clinicians = match params.clinician_ids.as_deref() {
        None => None,
        Some(text) => {
            let ids: Result<Vec<UserId>, _> = text
                .split(',')
                .map(|s| s.trim().parse::<UserId>())
                .collect();
            match ids {
                Ok(ids) if !ids.is_empty() && ids.len() <= MAX_CLINICIANS => Some(ids),
                _ => {
                    details.insert(
                        "clinicianIds".into(),
                        format!("must be 1 to {MAX_CLINICIANS} comma-separated UUIDs"),
                    );
                    None
                }
            }
        }
    };
    let service_code = match params.service_code.as_deref() {
        Some(code) => parse_service_code(code)
            .map_err(|e| details.insert("serviceCode".into(), e))
            .ok(),
        None => None,
    };
    if !(15..=480).contains(&params.duration_minutes) {
        details.insert("durationMinutes".into(), "must be 15 to 480".into());
    }
    let granularity = params.granularity_minutes.unwrap_or(15);
    if !(5..=240).contains(&granularity) {
        details.insert("granularityMinutes".into(), "must be 5 to 240".into());
    }
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        details.insert("limit".into(), "must be 1 to 1000".into());
    }
    let from = parse_instant(&params.from)
        .map_err(|e| details.insert("from".into(), e))
        .ok();
    let to = parse_instant(&params.to)
        .map_err(|e| details.insert("to".into(), e))
        .ok();
    if let (Some(f), Some(t)) = (from, to)
        && (t <= f || t - f > Duration::days(31))
    {
        details.insert(
            "to".into(),
            "must be after from, at most 31 days later".into(),
        );
    }
    match (from, to) {
        (Some(from), Some(to)) if details.is_empty() => Ok(SlotQuery {
            clinicians,
            service_code,
            duration_minutes: i32::try_from(params.duration_minutes).unwrap_or(60),
            from,
            to,
            granularity_minutes: i32::try_from(granularity).unwrap_or(15),
            limit,
        }),
        _ => Err(AppError::validation("The search is not valid", details)),
    }
}

/// Find free slots
///
/// The free slots of the clinicians between `from` and `to`: their weekly availability (wall
/// times in each clinician's zone, DST-correct), minus time off and busy time including
/// buffers, on the granularity grid. One SQL statement for any number of clinicians. No PHI,
/// not audited; every staff role of the practice.
#[utoipa::path(
    get,
    path = "/",
    tag = "availability",
    params(SlotParams),
    responses((status = 200, description = "The free slots", body = SlotList)),
)]
pub async fn find_slots(
    State(state): State<AppState>,
    caller: Caller,
    AppQuery(params): AppQuery<SlotParams>,
) -> Result<AppJson<SlotList>, AppError> {
    let may = policy::find_slots(&caller, "find_slots")?;
    let query = check(&params)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let (rows, truncated) = slots::find(&mut tx, &may, &query).await?;
    tx.commit().await?;
    Ok(AppJson(SlotList {
        slots: rows
            .into_iter()
            .map(|r| Slot {
                clinician_id: r.clinician_id,
                start: r.start_at,
                end: r.end_at,
            })
            .collect(),
        truncated,
    }))
}
