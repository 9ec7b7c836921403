//! `POST /api/sessions`: reserve units for a session.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::codec::outcome_json;
use crate::api::authorizations::lookup::{access_to, may_use_units, missing, refuse};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::domain::Role;
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::ids::UserId;
use crate::store::users;
use crate::units::ledger::{self, Hold};
use crate::units::minutes::MAX_SESSION_MINUTES;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReserveSession {
    authorization_id: Uuid,
    clinician_id: Option<UserId>,
    start_time: String,
    expected_units: i64,
}

/// An RFC 3339 timestamp between the years 2000 and 2100.
pub(super) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let time = DateTime::parse_from_rfc3339(text.trim())
        .map_err(|_| "must be an RFC 3339 timestamp like 2026-01-31T09:00:00Z".to_owned())?
        .with_timezone(&Utc);
    if !(2000..=2100).contains(&time.year()) {
        return Err("must be between the years 2000 and 2100".into());
    }
    Ok(time)
}

fn check(body: &ReserveSession) -> Result<(DateTime<Utc>, i32), AppError> {
    let mut details = Details::new();
    let start = parse_time(&body.start_time)
        .map_err(|e| details.insert("startTime".into(), e))
        .ok();
    let units = i32::try_from(body.expected_units)
        .ok()
        .filter(|u| (1..=i32::try_from(MAX_SESSION_MINUTES).unwrap_or(i32::MAX)).contains(u));
    if units.is_none() {
        details.insert(
            "expectedUnits".into(),
            format!("must be a whole number from 1 to {MAX_SESSION_MINUTES}"),
        );
    }
    match (start, units) {
        (Some(start), Some(units)) if details.is_empty() => Ok((start, units)),
        _ => Err(AppError::validation("The session is not valid", details)),
    }
}

/// `POST /api/sessions` → 201 `{success, session, remainingUnits}`. The units are taken with
/// one conditional UPDATE (see `crate::units::ledger`); a refusal changes nothing.
pub async fn reserve_session(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<ReserveSession>,
) -> Result<(StatusCode, AppJson<Value>), AppError> {
    let id = body.authorization_id;
    if !may_use_units(&caller) {
        return Err(refuse(
            &state,
            &caller,
            &meta,
            "reserve_session",
            Some(("authorization", id)),
        )
        .await);
    }
    let (start, units) = check(&body)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let clinician = match body.clinician_id {
        Some(user) => match users::find(&mut tx, user).await? {
            Some(found) if found.role == Role::Clinician && !found.disabled => Some(user),
            _ => {
                return Err(AppError::invalid_field(
                    "clinicianId",
                    "must be an active clinician of this organization",
                ));
            }
        },
        None if caller.role == Role::Clinician => Some(caller.user_id),
        None => None,
    };
    let held = match ledger::hold(&mut tx, id, units, start).await? {
        Hold::Held(held) => held,
        Hold::Missing => return Err(missing(&state, &mut tx, &caller, &meta, id).await),
        Hold::Refused {
            patient_id,
            refusal,
        } => {
            // Whoever may not see the patient learns nothing about its authorization.
            access_to(
                &state,
                &mut tx,
                &caller,
                &meta,
                "authorization",
                id,
                patient_id,
            )
            .await?;
            return Err(refusal.into());
        }
    };
    let patient = held.patient_id();
    let access = access_to(
        &state,
        &mut tx,
        &caller,
        &meta,
        "authorization",
        id,
        patient,
    )
    .await?;
    let outcome = ledger::record_reservation(
        &mut tx,
        held,
        Uuid::now_v7(),
        clinician,
        start,
        Some(caller.user_id),
    )
    .await?;
    let remaining = outcome.balance.available_units();
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::SessionReserve)
            .with_actor(caller.user_id, caller.role)
            .with_access_method(access.method)
            .with_entity("session", outcome.session.id)
            .with_patient(patient)
            .with_details(json!({
                "authorizationId": id,
                "units": units,
                "remainingUnits": remaining,
            }))
            .with_request(&meta),
    )
    .await?;
    if outcome.crossed_low_threshold {
        audit::record(
            &mut tx,
            &ledger::low_units_event(&outcome.balance)
                .with_actor(caller.user_id, caller.role)
                .with_access_method(access.method)
                .with_request(&meta),
        )
        .await?;
    }
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        AppJson(outcome_json(&outcome.session, remaining)),
    ))
}
