//! `POST /api/clinicians/{userId}/blocks`: time off.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Duration;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{Block, BlockResponse};
use super::lookup::active_clinician;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::domain::{parse_instant, parse_name};
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::UserId;
use crate::policy::appointments as policy;
use crate::scheduling::ScheduleError;
use crate::store::availability;

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateBlock {
    /// From: an RFC 3339 timestamp.
    #[schema(format = DateTime, example = "2027-03-15T13:00:00Z")]
    start: String,
    /// Until (exclusive): after the start, at most 366 days later.
    #[schema(format = DateTime, example = "2027-03-15T17:00:00Z")]
    end: String,
    /// Why: 1–500 characters (staff text; do not put patient information here).
    #[schema(min_length = 1, max_length = 500, example = "Conference")]
    reason: String,
}

/// Block time off
///
/// Adds time off to the clinician's calendar. It may not overlap an active appointment or
/// block of theirs (409 `SCHEDULE_CONFLICT`, `details.conflictWith` = `clinician`). ADMIN,
/// SCHEDULER and the clinician themself. Audited as `SCHEDULE_BLOCK_CREATE`.
#[utoipa::path(
    post,
    path = "/{userId}/blocks",
    tag = "availability",
    params(("userId" = Uuid, Path, description = "The clinician's user id")),
    request_body = CreateBlock,
    responses(
        (status = 201, description = "The block", body = BlockResponse),
        (status = 404, description = "No active clinician with this id in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 409, description = "Overlaps an active appointment or block (`SCHEDULE_CONFLICT`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn create_block(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(clinician): AppPath<UserId>,
    AppJson(body): AppJson<CreateBlock>,
) -> Result<(StatusCode, AppJson<BlockResponse>), AppError> {
    let may = policy::manage_calendar(&caller, "create_block", clinician)?;
    let mut details = Details::new();
    let start = parse_instant(&body.start)
        .map_err(|e| details.insert("start".into(), e))
        .ok();
    let end = parse_instant(&body.end)
        .map_err(|e| details.insert("end".into(), e))
        .ok();
    let reason = parse_name(&body.reason, 500)
        .map_err(|e| details.insert("reason".into(), e))
        .ok();
    if let (Some(s), Some(e)) = (start, end)
        && (e <= s || e - s > Duration::days(366))
    {
        details.insert(
            "end".into(),
            "must be after start, at most 366 days later".into(),
        );
    }
    let (Some(start), Some(end), Some(reason)) = (start, end, reason) else {
        return Err(AppError::validation("The block is not valid", details));
    };
    if !details.is_empty() {
        return Err(AppError::validation("The block is not valid", details));
    }
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    active_clinician(&mut tx, &caller, clinician).await?;
    let row = availability::insert_block(&mut tx, &may, start, end, &reason, caller.user_id)
        .await
        .map_err(ScheduleError::from)?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::ScheduleBlockCreate)
            .by(caller.actor())
            .with_access_method(may.method())
            .with_entity("block", row.id)
            .with_details(json!({ "clinicianId": clinician, "start": start, "end": end }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        AppJson(BlockResponse {
            block: Block::from(row),
        }),
    ))
}
