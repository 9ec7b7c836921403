//! `/api/appointment-series`.

mod cancel;
mod create;
mod race;
mod statements;

use axum::http::Method;
use haven_testkit::{TestApp, TestResponse, TestUser};
use serde_json::{Value, json};

/// A weekly 60-minute 97153 series at 10:00 New York time from Monday 2027-01-04, with
/// `extra` fields merged in (`recurrence` replaced whole).
pub(crate) fn series_body(patient: &str, clinician: &TestUser, extra: Value) -> Value {
    let mut body = json!({
        "patientId": patient,
        "clinicianId": clinician.id,
        "serviceCode": "97153",
        "timeZone": "America/New_York",
        "startDate": "2027-01-04",
        "startTime": "10:00",
        "durationMinutes": 60,
        "recurrence": { "frequency": "WEEKLY", "interval": 1, "byDay": ["MO", "TH"], "count": 4 },
        "onConflict": "reject",
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    body
}

pub(crate) async fn create(app: &TestApp, user: &TestUser, body: &Value) -> TestResponse {
    app.json_as(user, Method::POST, "/api/appointment-series", body)
        .await
}

/// The rows of `calendar_entries` of series `id` (as the owner): (start, status).
pub(crate) async fn stored(app: &TestApp, id: &str) -> Vec<(String, String)> {
    let owner = app.db().owner_pool().await;
    let rows = sqlx::query_as(
        "SELECT to_char(start_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), status \
         FROM calendar_entries WHERE series_id = $1::uuid ORDER BY start_at",
    )
    .bind(id)
    .fetch_all(&owner)
    .await
    .expect("rows");
    owner.close().await;
    rows
}

/// How many rows `table` holds (as the owner).
pub(crate) async fn count(app: &TestApp, table: &str) -> i64 {
    let owner = app.db().owner_pool().await;
    let n = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(&owner)
        .await
        .expect("count");
    owner.close().await;
    n
}
