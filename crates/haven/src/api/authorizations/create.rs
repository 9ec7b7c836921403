//! `POST /api/authorizations` (ADMIN, BILLING).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::{AuthorizationResponse, seal_member_id, to_authorization};
use crate::api::patients::lookup::find_visible;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::ids::{AuthorizationId, PatientId};
use crate::policy::units as policy;
use crate::store::authorizations::{self, NewAuthorization};
use crate::units::parse_service_code;

/// The most units one authorization may allow.
pub const MAX_TOTAL_UNITS: i64 = 100_000;
/// The longest period one authorization may cover, in days (about five years).
const MAX_PERIOD_DAYS: i64 = 5 * 366;

/// The request body. Text is trimmed before it is checked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateAuthorization {
    /// The patient it covers (one the caller may see).
    patient_id: PatientId,
    /// The insurer: 1–200 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^\s*[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*\s*$"
    )]
    payer_name: String,
    /// The patient's member id with the payer (PHI, stored encrypted): 1–64 letters, digits or
    /// dashes.
    #[schema(pattern = r"^\s*[A-Za-z0-9-]{1,64}\s*$")]
    member_id: Option<String>,
    /// A CPT/HCPCS-like code: 4–10 letters or digits, optionally a dash and a modifier of 1–4
    /// (`97153`, `H2019-HO`); lower case is accepted and upper-cased.
    #[schema(
        pattern = r"^\s*[A-Za-z0-9]{4,10}(-[A-Za-z0-9]{1,4})?\s*$",
        example = "97153"
    )]
    service_code: String,
    /// Minutes per unit, 1–240 (default 15).
    #[schema(minimum = 1, maximum = 240, default = 15)]
    unit_minutes: Option<i64>,
    /// Units allowed, 1–100000.
    #[schema(minimum = 1, maximum = 100_000)]
    total_units: i64,
    /// First day covered, `YYYY-MM-DD`, between 2000-01-01 and 2100-12-31.
    #[schema(format = Date, example = "2026-01-01")]
    start_date: String,
    /// Last day covered, `YYYY-MM-DD`: not before `startDate`, at most five years (1830 days)
    /// after it, and no later than 2100-12-31.
    #[schema(format = Date, example = "2026-06-30")]
    end_date: String,
    /// Below this many available units the authorization counts as low: 0 to `totalUnits`
    /// (default 10% of `totalUnits`, rounded up).
    #[schema(minimum = 0, maximum = 100_000)]
    low_units_threshold: Option<i64>,
}

struct Checked {
    payer_name: String,
    member_id: Option<String>,
    service_code: String,
    unit_minutes: i32,
    total_units: i32,
    start_date: NaiveDate,
    end_date: NaiveDate,
    low_units_threshold: i32,
}

/// A `YYYY-MM-DD` date between 2000 and 2100.
pub(crate) fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| "must be a date like 2026-01-31".to_owned())?;
    let (first, last) = (
        NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid constant date"),
        NaiveDate::from_ymd_opt(2100, 12, 31).expect("a valid constant date"),
    );
    if date < first || date > last {
        return Err("must be between 2000-01-01 and 2100-12-31".into());
    }
    Ok(date)
}

fn text(value: &str, max: usize, allowed: fn(char) -> bool) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if !value.chars().all(allowed) {
        return Err("contains characters that are not allowed".into());
    }
    Ok(value.to_owned())
}

fn check(body: &CreateAuthorization) -> Result<Checked, AppError> {
    let mut details = Details::new();
    let mut take = |field: &str, result: Result<i64, String>| {
        result.map_err(|e| details.insert(field.to_owned(), e)).ok()
    };
    let in_range = |value: i64, low: i64, high: i64| {
        if (low..=high).contains(&value) {
            Ok(value)
        } else {
            Err(format!("must be a whole number from {low} to {high}"))
        }
    };
    let total = take("totalUnits", in_range(body.total_units, 1, MAX_TOTAL_UNITS));
    let unit_minutes = take(
        "unitMinutes",
        in_range(body.unit_minutes.unwrap_or(15), 1, 240),
    );
    let threshold = total.and_then(|total| {
        take(
            "lowUnitsThreshold",
            in_range(
                body.low_units_threshold.unwrap_or((total + 9) / 10),
                0,
                total,
            ),
        )
    });
    let mut keep = |field: &str, result: Result<String, String>| {
        result.map_err(|e| details.insert(field.to_owned(), e)).ok()
    };
    let payer_name = keep(
        "payerName",
        text(&body.payer_name, 200, |c| !c.is_control()),
    );
    let member_id = body.member_id.as_deref().map(|m| {
        keep(
            "memberId",
            text(m, 64, |c| c.is_ascii_alphanumeric() || c == '-'),
        )
    });
    let service_code = keep("serviceCode", parse_service_code(&body.service_code));
    let mut date = |field: &str, value: &str| {
        parse_date(value)
            .map_err(|e| details.insert(field.to_owned(), e))
            .ok()
    };
    let start_date = date("startDate", &body.start_date);
    let end_date = date("endDate", &body.end_date);
    if let (Some(start), Some(end)) = (start_date, end_date) {
        if end < start {
            details.insert("endDate".into(), "must not be before startDate".into());
        } else if (end - start).num_days() > MAX_PERIOD_DAYS {
            details.insert(
                "endDate".into(),
                "the period may be at most five years".into(),
            );
        }
    }
    let number = |v: i64| i32::try_from(v).ok();
    match (
        payer_name,
        service_code,
        total.and_then(number),
        unit_minutes.and_then(number),
        threshold.and_then(number),
        start_date,
        end_date,
    ) {
        (
            Some(payer_name),
            Some(service_code),
            Some(total_units),
            Some(unit_minutes),
            Some(low_units_threshold),
            Some(start_date),
            Some(end_date),
        ) if details.is_empty() => Ok(Checked {
            payer_name,
            member_id: member_id.flatten(),
            service_code,
            unit_minutes,
            total_units,
            start_date,
            end_date,
            low_units_threshold,
        }),
        _ => Err(AppError::validation(
            "The authorization is not valid",
            details,
        )),
    }
}

/// Create an insurance authorization.
///
/// ADMIN or BILLING, for a patient they may see (a CLINICIAN or COMPLIANCE gets 403). The
/// authorization starts `ACTIVE` with no units used; its member id is stored encrypted. Audited
/// as `AUTHORIZATION_CREATE` with the patient's id (never the member id).
#[utoipa::path(
    post,
    path = "/",
    tag = "authorizations",
    request_body = CreateAuthorization,
    responses(
        (status = 201, description = "The new authorization", body = AuthorizationResponse),
        (status = 404, description = "No such patient in the caller's practice, or one they may not see (`NOT_FOUND`; audited)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn create_authorization(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppJson(body): AppJson<CreateAuthorization>,
) -> Result<(StatusCode, AppJson<AuthorizationResponse>), AppError> {
    let may = policy::manage_authorizations(&caller, "create_authorization", None)?;
    let may_use = policy::use_units(&caller, "create_authorization")?;
    let new = check(&body)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let patient = body.patient_id;
    let visible = find_visible(&state, &mut tx, &caller, &meta, &may_use, patient).await?;
    let access = *visible.access();
    let authorization_id = AuthorizationId::new();
    let id = authorization_id.as_uuid();
    let member_id = match &new.member_id {
        Some(value) => {
            let key = state
                .keyring()
                .data_key(&mut tx)
                .await
                .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("PHI keys")))?;
            Some(seal_member_id(&key, &tx, id, value))
        }
        None => None,
    };
    let row = authorizations::insert(
        &mut tx,
        &may,
        &NewAuthorization {
            id: authorization_id,
            patient_id: patient,
            payer_name: &new.payer_name,
            member_id,
            service_code: &new.service_code,
            unit_minutes: new.unit_minutes,
            total_units: new.total_units,
            start_date: new.start_date,
            end_date: new.end_date,
            low_units_threshold: new.low_units_threshold,
            created_by: caller.user_id,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::AuthorizationCreate)
            .by(caller.actor())
            .with_access_method(access.method)
            .with_entity("authorization", id)
            .with_patient(patient)
            .with_details(json!({
                "serviceCode": new.service_code,
                "unitMinutes": new.unit_minutes,
                "totalUnits": new.total_units,
                "startDate": new.start_date,
                "endDate": new.end_date,
            }))
            .with_request(&meta),
    )
    .await?;
    let authorization = to_authorization(
        &state,
        &mut tx,
        &row,
        crate::policy::units::sees_member_ids(&caller),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        AppJson(AuthorizationResponse { authorization }),
    ))
}
