//! `POST /api/sessions/{id}/start`, `/complete`, `/cancel`: the session is locked for the
//! transaction, so transitions of one session happen one at a time (completing twice at once:
//! one wins, the other gets 409 `INVALID_STATE`).

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema,
    SchemaFormat, SchemaType, Type,
};

use super::codec::TherapySessionOutcome;
use super::lookup::find_visible;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, RequestMeta};
use crate::auth::caller::Caller;
use crate::http::error::AppError;
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::TherapySessionId;
use crate::policy::patients::PatientAccess;
use crate::policy::units as policy;
use crate::units::ledger::{self, Outcome};
use crate::units::minutes::{MAX_SESSION_MINUTES, units_for_minutes};

/// Records the transition's audit row (and a low-units crossing), commits, answers.
async fn finish(
    mut tx: crate::db::TenantTx,
    caller: &Caller,
    meta: &RequestMeta,
    access: PatientAccess,
    action: AuditAction,
    outcome: &Outcome,
    details: Value,
) -> Result<AppJson<TherapySessionOutcome>, AppError> {
    audit::record(
        &mut tx,
        &AuditEvent::new(action)
            .by(caller.actor())
            .with_access_method(access.method)
            .with_entity("session", outcome.session.id)
            .with_patient(outcome.session.patient_id)
            .with_details(details)
            .with_request(meta),
    )
    .await?;
    if outcome.crossed_low_threshold {
        audit::record(
            &mut tx,
            &ledger::low_units_event(&outcome.balance)
                .by(caller.actor())
                .with_access_method(access.method)
                .with_request(meta),
        )
        .await?;
    }
    let body = TherapySessionOutcome::new(&outcome.session, outcome.balance.available_units())?;
    tx.commit().await?;
    Ok(AppJson(body))
}

/// Start a therapy session.
///
/// `POST /api/sessions/{id}/start` → `{success, session, remainingUnits}`: SCHEDULED →
/// IN_PROGRESS; the units stay reserved. Whoever may see the session's patient, except
/// COMPLIANCE (403). Audited as `SESSION_START`.
#[utoipa::path(
    post,
    path = "/{id}/start",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The session's id")),
    responses(
        (status = 200, description = "The session is IN_PROGRESS", body = TherapySessionOutcome),
        (status = 409, description = "The session is not SCHEDULED (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn start_session(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<TherapySessionId>,
) -> Result<AppJson<TherapySessionOutcome>, AppError> {
    let may = policy::use_session(&caller, "start_session", id)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let visible = find_visible(&state, &mut tx, &caller, &meta, &may, id, true).await?;
    let (session, access) = (visible.row(), *visible.access());
    let outcome = ledger::start(&mut tx, &visible).await??;
    let details = json!({ "authorizationId": session.authorization_id });
    finish(
        tx,
        &caller,
        &meta,
        access,
        AuditAction::SessionStart,
        &outcome,
        details,
    )
    .await
}

/// The request body: exactly one of `actualUnits` and `actualMinutes` (documented by hand, see
/// the [`utoipa::PartialSchema`] impl, since a derived schema cannot say "exactly one").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CompleteSession {
    actual_units: Option<i64>,
    actual_minutes: Option<i64>,
}

impl utoipa::PartialSchema for CompleteSession {
    fn schema() -> RefOr<Schema> {
        let max = MAX_SESSION_MINUTES;
        let count = |description: String| {
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(0))
                .maximum(Some(max))
                .description(Some(description))
        };
        let fields = ObjectBuilder::new()
            .property(
                "actualUnits",
                count(format!(
                    "The units delivered, 0–{max}, and at most a day's worth of the session's \
                     `unitMinutes` ({max} minutes)"
                )),
            )
            .property(
                "actualMinutes",
                count(format!(
                    "The minutes delivered, 0–{max}: converted to units by the session's \
                     `unitMinutes` and the CMS 8-minute rule"
                )),
            )
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let given = |field: &str| {
            ObjectBuilder::new()
                .property(field, ObjectBuilder::new().schema_type(Type::Integer))
                .required(field)
        };
        AllOfBuilder::new()
            .description(Some(
                "What was delivered: exactly one of `actualUnits` and `actualMinutes` (the other \
                 absent or `null`)",
            ))
            .item(fields)
            .item(
                OneOfBuilder::new()
                    .item(given("actualUnits"))
                    .item(given("actualMinutes")),
            )
            .into()
    }
}

impl ToSchema for CompleteSession {}

fn whole(field: &str, value: i64) -> Result<i32, AppError> {
    i32::try_from(value)
        .ok()
        .filter(|v| (0..=i32::try_from(MAX_SESSION_MINUTES).unwrap_or(i32::MAX)).contains(v))
        .ok_or_else(|| {
            AppError::invalid_field(
                field,
                format!("must be a whole number from 0 to {MAX_SESSION_MINUTES}"),
            )
        })
}

/// Complete a therapy session.
///
/// `POST /api/sessions/{id}/complete` `{actualUnits}` or `{actualMinutes}` →
/// `{success, session, remainingUnits}`: SCHEDULED or IN_PROGRESS → COMPLETED. Minutes become
/// units by the session's `unitMinutes` and the CMS 8-minute rule. Reserved units not used are
/// released; using more than reserved takes the extra atomically or fails with
/// `INSUFFICIENT_UNITS`, changing nothing. Whoever may see the session's patient, except
/// COMPLIANCE (403). Audited as `SESSION_COMPLETE` (and `AUTHORIZATION_LOW_UNITS` when the
/// authorization falls below its low-units threshold).
#[utoipa::path(
    post,
    path = "/{id}/complete",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The session's id")),
    request_body = CompleteSession,
    responses(
        (status = 200, description = "The session is COMPLETED and its actual units consumed", body = TherapySessionOutcome),
        (status = 409, description = "The session is not open (`INVALID_STATE`); the authorization cannot cover units beyond the reservation (`INSUFFICIENT_UNITS`), or is cancelled (`AUTHORIZATION_NOT_ACTIVE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn complete_session(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<TherapySessionId>,
    AppJson(body): AppJson<CompleteSession>,
) -> Result<AppJson<TherapySessionOutcome>, AppError> {
    let may = policy::use_session(&caller, "complete_session", id)?;
    let (units, minutes) = match (body.actual_units, body.actual_minutes) {
        (Some(units), None) => (Some(whole("actualUnits", units)?), None),
        (None, Some(minutes)) => (None, Some(whole("actualMinutes", minutes)?)),
        _ => {
            return Err(AppError::invalid_field(
                "actualUnits",
                "give exactly one of actualUnits and actualMinutes",
            ));
        }
    };
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let visible = find_visible(&state, &mut tx, &caller, &meta, &may, id, true).await?;
    let (session, access) = (visible.row(), *visible.access());
    let actual = match (units, minutes) {
        (Some(units), _) => units,
        (None, Some(minutes)) => {
            let converted = units_for_minutes(
                u32::try_from(minutes).unwrap_or(0),
                u32::try_from(session.unit_minutes).unwrap_or(1),
            );
            i32::try_from(converted).unwrap_or(i32::MAX)
        }
        (None, None) => 0,
    };
    let outcome =
        ledger::complete(&mut tx, &visible, actual, minutes, Some(caller.user_id)).await??;
    // The appointment that wraps the session (if any) is fulfilled with it.
    crate::store::appointments::fulfil_for_session(&mut tx, session.id).await?;
    if let Some(charge) = &outcome.charge {
        audit::record(
            &mut tx,
            &AuditEvent::new(AuditAction::ChargeCreate)
                .by(caller.actor())
                .with_access_method(access.method)
                .with_entity("charge", charge.id)
                .with_patient(charge.patient_id)
                .with_details(json!({
                    "sessionId": session.id,
                    "units": charge.units,
                    "chargeCents": charge.charge_cents,
                    "status": charge.status,
                }))
                .with_request(&meta),
        )
        .await?;
    }
    let details = json!({
        "authorizationId": session.authorization_id,
        "reservedUnits": session.reserved_units,
        "actualUnits": actual,
        "actualMinutes": minutes,
    });
    finish(
        tx,
        &caller,
        &meta,
        access,
        AuditAction::SessionComplete,
        &outcome,
        details,
    )
    .await
}

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CancelSession {
    /// Why the session is cancelled: 1–300 characters once trimmed, no control characters
    /// (line breaks included).
    #[schema(min_length = 1, max_length = 300, example = "Patient called in sick")]
    reason: String,
}

/// Cancel a therapy session.
///
/// `POST /api/sessions/{id}/cancel` `{reason}` → `{success, session, remainingUnits}`:
/// SCHEDULED or IN_PROGRESS → CANCELLED; the reserved units go back to the authorization.
/// Whoever may see the session's patient, except COMPLIANCE (403). Audited as `SESSION_CANCEL`.
#[utoipa::path(
    post,
    path = "/{id}/cancel",
    tag = "sessions",
    params(("id" = Uuid, Path, description = "The session's id")),
    request_body = CancelSession,
    responses(
        (status = 200, description = "The session is CANCELLED and its units released", body = TherapySessionOutcome),
        (status = 409, description = "The session is already COMPLETED or CANCELLED (`INVALID_STATE`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn cancel_session(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(id): AppPath<TherapySessionId>,
    AppJson(body): AppJson<CancelSession>,
) -> Result<AppJson<TherapySessionOutcome>, AppError> {
    let may = policy::use_session(&caller, "cancel_session", id)?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 300 || reason.chars().any(char::is_control) {
        return Err(AppError::invalid_field(
            "reason",
            "must be 1 to 300 characters of text",
        ));
    }
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let visible = find_visible(&state, &mut tx, &caller, &meta, &may, id, true).await?;
    let (session, access) = (visible.row(), *visible.access());
    let outcome = ledger::cancel(&mut tx, &visible, reason, Some(caller.user_id)).await??;
    // The appointment that wraps the session (if any) is cancelled with it: its time is free.
    crate::store::appointments::cancel_for_session(&mut tx, session.id, reason).await?;
    let details = json!({
        "authorizationId": session.authorization_id,
        "unitsReleased": session.reserved_units,
    });
    finish(
        tx,
        &caller,
        &meta,
        access,
        AuditAction::SessionCancel,
        &outcome,
        details,
    )
    .await
}
