//! Shared set-up for the unit tests: a practice with a patient, authorizations, reservations,
//! and the ledger invariant read through `haven_units.ledger_check()`.

use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use haven::domain::Role;
use haven::ids::OrganizationId;
use haven::store::authorizations::{LedgerCheck, ledger_check};
use haven_testkit::{TestApp, TestResponse, TestUser};
use serde_json::{Value, json};

/// An ADMIN and one patient of a new practice.
pub(crate) struct Practice {
    pub(crate) admin: TestUser,
    pub(crate) patient: String,
}

pub(crate) async fn practice(app: &TestApp, name: &str) -> Practice {
    let admin = app.org_with(name, Role::Admin).await;
    let patient = patient(app, &admin, "MRN-1").await;
    Practice { admin, patient }
}

pub(crate) async fn patient(app: &TestApp, admin: &TestUser, mrn: &str) -> String {
    let created = app
        .json_as(
            admin,
            Method::POST,
            "/api/patients",
            &json!({
                "firstName": "Robin", "lastName": "Okafor", "dateOfBirth": "2017-05-02",
                "medicalRecordNumber": mrn,
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    created.json()["patient"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

pub(crate) fn day(offset_days: i64) -> String {
    (Utc::now() + Duration::days(offset_days))
        .format("%Y-%m-%d")
        .to_string()
}

pub(crate) fn at(offset_minutes: i64) -> String {
    (Utc::now() + Duration::minutes(offset_minutes)).to_rfc3339()
}

/// A valid creation body: `total` units of 15 minutes, from 30 days ago to 180 days ahead.
pub(crate) fn authorization_body(patient: &str, total: i64) -> Value {
    json!({
        "patientId": patient,
        "payerName": "Blue Harbor Health",
        "memberId": "BH-20391",
        "serviceCode": "97153",
        "totalUnits": total,
        "startDate": day(-30),
        "endDate": day(180),
    })
}

pub(crate) async fn authorization(
    app: &TestApp,
    user: &TestUser,
    patient: &str,
    total: i64,
) -> String {
    let created = app
        .json_as(
            user,
            Method::POST,
            "/api/authorizations",
            &authorization_body(patient, total),
        )
        .await;
    assert_eq!(
        created.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    created.json()["authorization"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// `POST /api/sessions` for `units` units starting `start_offset_minutes` from now.
pub(crate) async fn reserve_at(
    app: &TestApp,
    user: &TestUser,
    authorization: &str,
    units: i64,
    start_offset_minutes: i64,
) -> TestResponse {
    app.json_as(
        user,
        Method::POST,
        "/api/sessions",
        &json!({
            "authorizationId": authorization,
            "startTime": at(start_offset_minutes),
            "expectedUnits": units,
        }),
    )
    .await
}

pub(crate) async fn reserve(
    app: &TestApp,
    user: &TestUser,
    authorization: &str,
    units: i64,
) -> TestResponse {
    reserve_at(app, user, authorization, units, 0).await
}

/// Reserves and returns the session id (asserting 201).
pub(crate) async fn reserved(
    app: &TestApp,
    user: &TestUser,
    authorization: &str,
    units: i64,
) -> String {
    let response = reserve(app, user, authorization, units).await;
    assert_eq!(
        response.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    response.json()["session"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

pub(crate) async fn post(app: &TestApp, user: &TestUser, path: &str, body: Value) -> TestResponse {
    app.json_as(user, Method::POST, path, &body).await
}

pub(crate) async fn get_authorization(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let response = app.get_as(user, &format!("/api/authorizations/{id}")).await;
    assert_eq!(response.status, StatusCode::OK);
    response.json()["authorization"].clone()
}

/// The invariant of every authorization of `org`, as the SQL check function sees it.
pub(crate) async fn ledger(app: &TestApp, org: OrganizationId) -> Vec<LedgerCheck> {
    let mut tx = app
        .state()
        .db()
        .begin_tenant(org, None)
        .await
        .expect("tenant tx");
    let rows = ledger_check(&mut tx).await.expect("ledger check");
    tx.commit().await.expect("commit");
    rows
}

pub(crate) async fn assert_ledger_balanced(app: &TestApp, org: OrganizationId) {
    let rows = ledger(app, org).await;
    assert!(rows.iter().all(|r| r.consistent), "{rows:#?}");
}

/// The ledger rows of an authorization: (kind, units).
pub(crate) async fn ledger_rows(app: &TestApp, authorization: &str) -> Vec<(String, i32)> {
    let owner = app.db().owner_pool().await;
    let rows = sqlx::query_as(
        "SELECT kind, units FROM unit_ledger WHERE authorization_id = $1::uuid \
         ORDER BY created_at, units DESC, id",
    )
    .bind(authorization)
    .fetch_all(&owner)
    .await
    .expect("ledger rows");
    owner.close().await;
    rows
}

/// The details of every audit event `action` of `org`.
pub(crate) async fn audited(app: &TestApp, org: OrganizationId, action: &str) -> Vec<Value> {
    app.audit_events(org)
        .await
        .into_iter()
        .filter(|(a, _, _)| a == action)
        .map(|(_, _, details)| details)
        .collect()
}

/// Runs `sql` as the owner (tests that set up states no endpoint makes).
pub(crate) async fn as_owner(app: &TestApp, sql: &str, id: &str) {
    let owner = app.db().owner_pool().await;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(id)
        .execute(&owner)
        .await
        .expect("owner statement");
    owner.close().await;
}
