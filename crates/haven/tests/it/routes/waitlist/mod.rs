//! `/api/waitlist` and `/api/waitlist-offers`.

mod auto_offer;
mod create;
mod decide;
mod explain;
mod list;
mod matches;
mod offers;
mod race;
mod statements;
mod sweeper;
mod update;

use axum::http::{Method, StatusCode};
use haven::ids::OrganizationId;
use haven_testkit::{TestApp, TestResponse, TestUser};
use serde_json::{Value, json};

use crate::fixtures::scheduling::{Clinic, clinic, text};

/// Monday 2027-03-15, 09:00 New York time (EDT).
pub(crate) const MONDAY_NINE: &str = "2027-03-15T13:00:00Z";
/// Monday 2027-03-15, 15:00 New York time.
pub(crate) const MONDAY_THREE: &str = "2027-03-15T19:00:00Z";

/// The scheduling clinic, its practice's time zone set to New York (the zone of the
/// waitlist's days and windows).
pub(crate) async fn waitlist_clinic(app: &TestApp, name: &str) -> Clinic {
    let c = clinic(app, name, 0).await;
    let set = app
        .json_as(
            &c.admin,
            Method::PATCH,
            "/api/organization/settings",
            &json!({ "timeZone": "America/New_York" }),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", text(&set));
    c
}

/// A 97153 entry body for `patient`, with `extra` fields merged in.
pub(crate) fn entry_body(patient: &str, extra: Value) -> Value {
    let mut body = json!({ "patientId": patient, "serviceCode": "97153" });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    body
}

pub(crate) async fn add(app: &TestApp, user: &TestUser, body: &Value) -> TestResponse {
    app.json_as(user, Method::POST, "/api/waitlist", body).await
}

/// Adds an entry and returns it (asserting 201).
pub(crate) async fn added(app: &TestApp, user: &TestUser, patient: &str, extra: Value) -> Value {
    let response = add(app, user, &entry_body(patient, extra)).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    response.json()["waitlistEntry"].clone()
}

/// `POST /api/waitlist/{entry}/offers` of a 60-minute slot of `clinician` at `start`.
pub(crate) async fn offer(
    app: &TestApp,
    user: &TestUser,
    entry: &Value,
    clinician: &TestUser,
    start: &str,
    extra: Value,
) -> TestResponse {
    let mut body = json!({ "clinicianId": clinician.id, "start": start, "durationMinutes": 60 });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    let id = entry["id"].as_str().expect("entry id");
    app.json_as(
        user,
        Method::POST,
        &format!("/api/waitlist/{id}/offers"),
        &body,
    )
    .await
}

/// Offers and returns the outcome (asserting 201).
pub(crate) async fn offered(
    app: &TestApp,
    user: &TestUser,
    entry: &Value,
    clinician: &TestUser,
    start: &str,
) -> Value {
    let response = offer(app, user, entry, clinician, start, json!({})).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    response.json()
}

/// `POST /api/waitlist-offers/{offer}/{action}`.
pub(crate) async fn decide(
    app: &TestApp,
    user: &TestUser,
    offer: &Value,
    action: &str,
    body: Value,
) -> TestResponse {
    let id = offer["id"].as_str().expect("offer id");
    app.json_as(
        user,
        Method::POST,
        &format!("/api/waitlist-offers/{id}/{action}"),
        &body,
    )
    .await
}

/// Runs `sql` (binding `$1` = `id`) as the owner.
pub(crate) async fn owner_exec(app: &TestApp, sql: &str, id: &str) {
    crate::fixtures::units::as_owner(app, sql, id).await;
}

/// One scalar read as the owner (binding `$1` = `id`).
pub(crate) async fn owner_scalar<T>(app: &TestApp, sql: &str, id: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    let owner = app.db().owner_pool().await;
    let value = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(id)
        .fetch_one(&owner)
        .await
        .expect("owner read");
    owner.close().await;
    value
}

/// Makes offer `id` (and its hold) expired a minute ago, as the owner.
pub(crate) async fn expire_offer(app: &TestApp, offer: &Value) {
    let id = offer["id"].as_str().expect("offer id");
    owner_exec(
        app,
        "WITH o AS (UPDATE waitlist_offers SET created_at = now() - interval '2 hours', \
             expires_at = now() - interval '1 minute' WHERE id = $1::uuid RETURNING organization_id, appointment_id) \
         UPDATE calendar_entries e SET hold_expires_at = now() - interval '1 minute' \
         FROM o WHERE e.organization_id = o.organization_id AND e.id = o.appointment_id",
        id,
    )
    .await;
}

/// Inserts `n` patients of `org`, each with an ACTIVE entry (as the owner, in one statement):
/// every 10th URGENT, waiting since up to 80 days ago, the services cycling through
/// `services`; every 5th prefers some other clinician, every 3rd Monday, Wednesday and Friday,
/// the next ones 15:00–18:00. Returns nothing: the subject is the search, not the set-up.
pub(crate) async fn seed_entries(app: &TestApp, org: OrganizationId, n: i64, services: &[&str]) {
    let owner = app.db().owner_pool().await;
    sqlx::query(
        "WITH p AS ( \
             INSERT INTO patients (organization_id, id, first_name, last_name, date_of_birth, \
                 medical_record_number, mrn_index, last_name_index) \
             SELECT $1, gen_random_uuid(), '\\x00', '\\x00', '\\x00', '\\x00', \
                    sha256(convert_to('seed-mrn-' || g || '-' || $1::text, 'UTF8')), \
                    sha256(convert_to('seed-ln-' || g, 'UTF8')) \
             FROM generate_series(1, $2::int) g RETURNING id), \
         n AS (SELECT id, row_number() OVER () AS g FROM p) \
         INSERT INTO waitlist_entries (organization_id, id, patient_id, service_code, priority, \
             clinician_ids, preferred_days, window_starts, window_ends, waiting_since, expires_at) \
         SELECT $1, gen_random_uuid(), n.id, \
                ($3::text[])[1 + n.g % cardinality($3::text[])], \
                CASE WHEN n.g % 10 = 0 THEN 'URGENT' ELSE 'ROUTINE' END, \
                CASE WHEN n.g % 5 = 0 THEN ARRAY[gen_random_uuid()] ELSE '{}' END, \
                CASE WHEN n.g % 3 = 0 THEN '{1,3,5}'::smallint[] ELSE '{}' END, \
                CASE WHEN n.g % 3 = 1 THEN '{15:00}'::time[] ELSE '{}' END, \
                CASE WHEN n.g % 3 = 1 THEN '{18:00}'::time[] ELSE '{}' END, \
                now() - make_interval(mins => (n.g * 7919 % 115200)::int), \
                now() + interval '30 days' \
         FROM n",
    )
    .bind(org)
    .bind(n)
    .bind(services)
    .execute(&owner)
    .await
    .expect("seeding entries");
    sqlx::query("ANALYZE waitlist_entries")
        .execute(&owner)
        .await
        .expect("analyze");
    owner.close().await;
}
