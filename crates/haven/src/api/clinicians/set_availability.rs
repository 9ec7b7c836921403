//! `PUT /api/clinicians/{userId}/availability`.

use axum::extract::State;
use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::codec::AvailabilityResponse;
use super::lookup::active_clinician;
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent};
use crate::auth::caller::Caller;
use crate::domain::parse_time_zone_name;
use crate::http::error::{AppError, Details};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::http::query::AppPath;
use crate::ids::UserId;
use crate::policy::appointments as policy;
use crate::scheduling::wall_time::{WallTime, parse_day};
use crate::store::availability::{self, NewAvailability, NewRule};
use crate::store::organizations;
use crate::units::parse_service_code;

/// At most this many rules.
const MAX_RULES: usize = 50;

/// One weekly rule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleBody {
    /// Days of the week: `MO`, `TU`, `WE`, `TH`, `FR`, `SA`, `SU` (1–7, no repeats).
    #[schema(example = json!(["MO", "TU"]), min_items = 1, max_items = 7)]
    days_of_week: Vec<String>,
    /// Local start, `HH:MM`.
    #[schema(example = "09:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    start_time: String,
    /// Local end, `HH:MM`, after the start (`24:00`: the end of the day).
    #[schema(example = "17:00", pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    end_time: String,
    /// The services these hours are for (1–20 CPT/HCPCS-like codes); absent: any.
    #[schema(max_items = 20)]
    service_codes: Option<Vec<String>>,
}

/// The request body: the clinician's whole availability (it replaces what was set).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetAvailability {
    /// The IANA zone of the rules' wall times; absent: the practice's zone.
    #[schema(example = "America/New_York", max_length = 64)]
    time_zone: Option<String>,
    /// The weekly rules (at most 50; none: never available).
    #[schema(max_items = 50)]
    rules: Vec<RuleBody>,
    /// Minutes kept free after each appointment, 0–240 (default 0).
    #[schema(minimum = 0, maximum = 240)]
    buffer_minutes: Option<i64>,
    /// First day the rules hold, `YYYY-MM-DD`.
    #[schema(format = Date, example = "2027-01-04")]
    effective_from: String,
    /// Last day they hold, `YYYY-MM-DD`; absent: open-ended.
    #[schema(format = Date, example = "2027-12-31")]
    effective_to: Option<String>,
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| (2000..=2100).contains(&chrono::Datelike::year(d)))
        .ok_or_else(|| "must be a date YYYY-MM-DD between the years 2000 and 2100".into())
}

fn parse_rule(index: usize, rule: &RuleBody, details: &mut Details) -> Option<NewRule> {
    let field = |name: &str| format!("rules[{index}].{name}");
    let mut days = Vec::new();
    for day in &rule.days_of_week {
        match parse_day(day) {
            Ok(d) if !days.contains(&d) => days.push(d),
            Ok(_) => {
                details.insert(field("daysOfWeek"), "must not repeat a day".into());
            }
            Err(e) => {
                details.insert(field("daysOfWeek"), e);
            }
        }
    }
    if rule.days_of_week.is_empty() || rule.days_of_week.len() > 7 {
        details.insert(field("daysOfWeek"), "must name 1 to 7 days".into());
    }
    let start = WallTime::parse(&rule.start_time)
        .map_err(|e| details.insert(field("startTime"), e))
        .ok();
    let end = WallTime::parse(&rule.end_time)
        .map_err(|e| details.insert(field("endTime"), e))
        .ok();
    if start.is_some_and(|s| s.to_text() == "24:00") {
        details.insert(field("startTime"), "must be before 24:00".into());
    }
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        details.insert(field("endTime"), "must be after startTime".into());
    }
    let codes = match &rule.service_codes {
        None => None,
        Some(codes) if codes.is_empty() || codes.len() > 20 => {
            details.insert(field("serviceCodes"), "must list 1 to 20 codes".into());
            None
        }
        Some(codes) => {
            let parsed: Result<Vec<_>, _> = codes.iter().map(|c| parse_service_code(c)).collect();
            match parsed {
                Ok(mut codes) => {
                    codes.sort();
                    codes.dedup();
                    Some(codes)
                }
                Err(e) => {
                    details.insert(field("serviceCodes"), e);
                    None
                }
            }
        }
    };
    Some(NewRule {
        days,
        start_time: start?.to_text(),
        end_time: end?.to_text(),
        service_codes: codes,
    })
}

struct Parsed {
    zone: Option<String>,
    rules: Vec<NewRule>,
    buffer: i32,
    from: NaiveDate,
    to: Option<NaiveDate>,
}

fn check(body: &SetAvailability) -> Result<Parsed, AppError> {
    let mut details = Details::new();
    let zone = match &body.time_zone {
        Some(raw) => parse_time_zone_name(raw)
            .map_err(|e| details.insert("timeZone".into(), e))
            .ok(),
        None => None,
    };
    if body.rules.len() > MAX_RULES {
        details.insert("rules".into(), format!("at most {MAX_RULES} rules"));
    }
    let rules: Vec<_> = body
        .rules
        .iter()
        .take(MAX_RULES)
        .enumerate()
        .filter_map(|(i, r)| parse_rule(i, r, &mut details))
        .collect();
    let buffer = body.buffer_minutes.unwrap_or(0);
    if !(0..=240).contains(&buffer) {
        details.insert("bufferMinutes".into(), "must be 0 to 240".into());
    }
    let from = parse_date(&body.effective_from)
        .map_err(|e| details.insert("effectiveFrom".into(), e))
        .ok();
    let to = match &body.effective_to {
        Some(raw) => parse_date(raw)
            .map_err(|e| details.insert("effectiveTo".into(), e))
            .ok(),
        None => None,
    };
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        details.insert(
            "effectiveTo".into(),
            "must not be before effectiveFrom".into(),
        );
    }
    match from {
        Some(from) if details.is_empty() => Ok(Parsed {
            zone,
            rules,
            buffer: i32::try_from(buffer).unwrap_or(0),
            from,
            to,
        }),
        _ => Err(AppError::validation(
            "The availability is not valid",
            details,
        )),
    }
}

/// Set a clinician's availability
///
/// Replaces the clinician's weekly rules, buffer and effective dates. Wall times are in
/// `timeZone` (default: the practice's) and hold across DST changes. ADMIN, SCHEDULER and the
/// clinician themself. Audited as `AVAILABILITY_UPDATE`. A user of another practice is a 404
/// (audited).
#[utoipa::path(
    put,
    path = "/{userId}/availability",
    tag = "availability",
    params(("userId" = Uuid, Path, description = "The clinician's user id")),
    request_body = SetAvailability,
    responses(
        (status = 200, description = "The availability as stored", body = AvailabilityResponse),
        (status = 404, description = "No active clinician with this id in the caller's practice (`NOT_FOUND`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn set_availability(
    State(state): State<AppState>,
    caller: Caller,
    Meta(meta): Meta,
    AppPath(clinician): AppPath<UserId>,
    AppJson(body): AppJson<SetAvailability>,
) -> Result<AppJson<AvailabilityResponse>, AppError> {
    let may = policy::manage_calendar(&caller, "set_availability", clinician)?;
    let parsed = check(&body)?;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    active_clinician(&mut tx, &caller, clinician).await?;
    let zone = match parsed.zone {
        Some(zone) => {
            if !organizations::is_known_time_zone(&mut tx, &zone).await? {
                return Err(AppError::invalid_field(
                    "timeZone",
                    "is not a time zone this server knows (IANA name like America/New_York)",
                ));
            }
            zone
        }
        None => organizations::time_zone(&mut tx).await?,
    };
    let row = availability::replace(
        &mut tx,
        &may,
        &NewAvailability {
            time_zone: &zone,
            buffer_minutes: parsed.buffer,
            effective_from: parsed.from,
            effective_to: parsed.to,
            rules: &parsed.rules,
        },
        caller.user_id,
    )
    .await?;
    let rules = availability::rules(&mut tx, &may).await?;
    let blocks = availability::blocks(&mut tx, &may, Utc::now()).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::AvailabilityUpdate)
            .by(caller.actor())
            .with_access_method(may.method())
            .with_entity("user", clinician)
            .with_details(json!({
                "timeZone": row.time_zone,
                "rules": parsed.rules.len(),
                "bufferMinutes": row.buffer_minutes,
                "effectiveFrom": row.effective_from,
                "effectiveTo": row.effective_to,
            }))
            .with_request(&meta),
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(AvailabilityResponse::new(Some(row), rules, blocks)))
}
