//! Parsing an entry's preferences (shared by add and update): every bad field is named in
//! `details`, nothing is written.

use chrono::{NaiveDate, NaiveTime};

use super::codec::{Priority, Window};
use crate::api::authorizations::lookup::missing;
use crate::api::authorizations::parse_date;
use crate::app::AppState;
use crate::auth::caller::Caller;
use crate::db::TenantTx;
use crate::http::error::{AppError, Details};
use crate::ids::{AuthorizationId, PatientId, UserId};
use crate::policy::patients::PatientUse;
use crate::scheduling::wall_time::parse_day;
use crate::store::authorizations;
use crate::store::waitlist as store;

/// At most this many preferred clinicians.
pub(super) const MAX_CLINICIANS: usize = 20;
/// At most this many windows.
pub(super) const MAX_WINDOWS: usize = 7;
/// Notes: at most this many characters.
pub(super) const MAX_NOTES: usize = 2000;

pub(super) fn clinicians(ids: &[UserId], details: &mut Details) -> Vec<UserId> {
    if ids.len() > MAX_CLINICIANS {
        details.insert(
            "clinicianIds".into(),
            format!("at most {MAX_CLINICIANS} clinicians"),
        );
    }
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

pub(super) fn days(names: &[String], details: &mut Details) -> Vec<i16> {
    let mut days = Vec::new();
    for name in names {
        match parse_day(name) {
            Ok(day) => days.push(day),
            Err(problem) => {
                details.insert("preferredDays".into(), problem);
            }
        }
    }
    days.sort_unstable();
    days.dedup();
    days
}

fn wall_time(text: &str) -> Option<NaiveTime> {
    let text = text.trim();
    (text.len() == 5)
        .then(|| NaiveTime::parse_from_str(text, "%H:%M").ok())
        .flatten()
}

pub(super) fn windows(windows: &[Window], details: &mut Details) -> Vec<(NaiveTime, NaiveTime)> {
    if windows.len() > MAX_WINDOWS {
        details.insert(
            "preferredWindows".into(),
            format!("at most {MAX_WINDOWS} windows"),
        );
    }
    let mut parsed = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        match (wall_time(&w.start), wall_time(&w.end)) {
            (Some(start), Some(end)) if end > start => parsed.push((start, end)),
            (Some(_), Some(_)) => {
                details.insert(
                    format!("preferredWindows[{i}].end"),
                    "must be after start".into(),
                );
            }
            _ => {
                details.insert(
                    format!("preferredWindows[{i}]"),
                    "start and end must be local times HH:MM (00:00 to 23:59)".into(),
                );
            }
        }
    }
    parsed
}

pub(super) fn date(field: &str, text: Option<&str>, details: &mut Details) -> Option<NaiveDate> {
    text.and_then(|t| {
        parse_date(t)
            .map_err(|e| details.insert(field.into(), e))
            .ok()
    })
}

pub(super) fn dates(earliest: Option<NaiveDate>, latest: Option<NaiveDate>, details: &mut Details) {
    if let (Some(e), Some(l)) = (earliest, latest)
        && l < e
    {
        details.insert(
            "latestDate".into(),
            "must not be before earliestDate".into(),
        );
    }
}

pub(super) fn priority(text: Option<&str>, details: &mut Details) -> Option<Priority> {
    text.and_then(|t| match t.trim().to_ascii_uppercase().as_str() {
        "URGENT" => Some(Priority::Urgent),
        "ROUTINE" => Some(Priority::Routine),
        _ => {
            details.insert("priority".into(), "must be URGENT or ROUTINE".into());
            None
        }
    })
}

pub(super) fn notes(text: Option<&str>, details: &mut Details) -> Option<String> {
    text.and_then(|t| {
        let t = t.trim();
        let n = t.chars().count();
        if n == 0 || n > MAX_NOTES {
            details.insert(
                "notes".into(),
                format!("must be 1 to {MAX_NOTES} characters"),
            );
            None
        } else if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            details.insert("notes".into(), "must not contain control characters".into());
            None
        } else {
            Some(t.to_owned())
        }
    })
}

/// `Ok` when every id in `ids` is an active clinician of the practice, else the 400 naming
/// `clinicianIds` (another practice's users are not told apart from no one: ids only).
pub(super) async fn check_clinicians(tx: &mut TenantTx, ids: &[UserId]) -> Result<(), AppError> {
    if ids.is_empty() || store::active_clinicians(tx, ids).await? == ids.len() as i64 {
        Ok(())
    } else {
        Err(AppError::invalid_field(
            "clinicianIds",
            "must be active clinicians of the practice",
        ))
    }
}

/// `Ok` when authorization `id` is the patient's, for `service_code`; another practice's is
/// the audited 404.
pub(super) async fn check_authorization(
    _state: &AppState,
    tx: &mut TenantTx,
    caller: &Caller,
    may: &PatientUse,
    id: AuthorizationId,
    patient: PatientId,
    service_code: &str,
) -> Result<(), AppError> {
    let Some(row) = authorizations::find(tx, may, id).await? else {
        return Err(missing(tx, caller, id).await?.into());
    };
    if row.patient_id != patient {
        return Err(AppError::invalid_field(
            "authorizationId",
            "belongs to another patient",
        ));
    }
    if row.service_code != service_code {
        return Err(AppError::invalid_field(
            "authorizationId",
            "covers another service code",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(start: &str, end: &str) -> Window {
        Window {
            start: start.to_owned(),
            end: end.to_owned(),
        }
    }

    #[test]
    fn windows_need_local_times_with_the_end_after_the_start() {
        let mut details = Details::new();
        let parsed = windows(
            &[
                window("15:00", "18:00"),
                window("18:00", "15:00"),
                window("3pm", "18:00"),
                window("09:00", "24:00"),
            ],
            &mut details,
        );
        assert_eq!(parsed.len(), 1);
        assert!(details.contains_key("preferredWindows[1].end"));
        assert!(details.contains_key("preferredWindows[2]"));
        assert!(
            details.contains_key("preferredWindows[3]"),
            "24:00 is not a time of day"
        );
    }

    #[test]
    fn days_are_deduplicated_and_unknown_ones_named() {
        let mut details = Details::new();
        let parsed = days(&["we".into(), "MO".into(), "WE".into()], &mut details);
        assert_eq!(parsed, vec![1, 3]);
        assert!(details.is_empty());
        days(&["XX".into()], &mut details);
        assert!(details.contains_key("preferredDays"));
    }

    #[test]
    fn dates_priority_and_notes_are_checked() {
        let mut details = Details::new();
        let early = date("earliestDate", Some("2027-06-30"), &mut details);
        let late = date("latestDate", Some("2027-03-01"), &mut details);
        dates(early, late, &mut details);
        assert!(details.contains_key("latestDate"));
        assert_eq!(
            priority(Some("urgent"), &mut details),
            Some(Priority::Urgent)
        );
        assert_eq!(priority(Some("soon"), &mut details), None);
        assert!(details.contains_key("priority"));
        assert_eq!(notes(Some("  ok  "), &mut details).as_deref(), Some("ok"));
        assert_eq!(notes(Some("bad\u{0}"), &mut Details::new()), None);
    }
}
