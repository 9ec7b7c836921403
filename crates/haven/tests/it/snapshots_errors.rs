//! Every error envelope Haven answers (SPEC §4), produced by real requests against the whole
//! router and pinned as `insta` snapshots (`snapshots/it__snapshots_errors__<case>.snap`): the
//! status, the body, and a 405's `Allow` header. A changed code, message, `details` key or
//! status shows up as a snapshot diff. The envelopes only a bug or an outage produce (500, 503)
//! are checked in `errors`, `audit_chain` and `transport`.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use haven::domain::Role;
use haven_testkit::{PASSWORD, TestApp, TestResponse, json_request, request};
use serde_json::{Value, json};

use crate::fixtures::auth::{enrol, refresh};
use crate::fixtures::patients::{create, patient};
use crate::fixtures::post;
use crate::fixtures::units::{
    as_owner, authorization, authorization_body, practice, reserve, reserved,
};

/// What a client sees of an error: status, body, and the `Allow` header of a 405.
fn envelope(response: &TestResponse) -> Value {
    let mut seen = json!({ "status": response.status.as_u16(), "body": response.json() });
    if let Some(allow) = response.header("allow") {
        seen["allow"] = json!(allow);
    }
    seen
}

/// Pins `response` as the snapshot `name`; a request id (5xx only) is redacted.
fn assert_envelope(name: &str, response: &TestResponse) {
    insta::assert_json_snapshot!(name, envelope(response), {
        ".body.requestId" => "[requestId]",
    });
}

/// A request with a raw body (and a content type, if any) as the bearer of `token`.
fn raw(
    path: &str,
    body: impl Into<Body>,
    content_type: Option<&str>,
    token: &str,
) -> axum::http::Request<Body> {
    let mut req = request(Method::POST, path, body.into());
    if let Some(content_type) = content_type {
        req.headers_mut().insert(
            header::CONTENT_TYPE,
            content_type.parse().expect("content type"),
        );
    }
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("bearer"),
    );
    req
}

#[tokio::test]
async fn requests_the_router_cannot_take_answer_their_envelopes() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let mut invalid = patient("MRN-1", "Castellano");
    invalid["dateOfBirth"] = json!("2016-02-30");
    invalid["email"] = json!("not-an-email");
    let mut headers = request(Method::GET, "/health", Body::empty());
    for i in 0..120 {
        headers.headers_mut().insert(
            header::HeaderName::from_bytes(format!("x-filler-{i}").as_bytes()).expect("name"),
            "x".parse().expect("value"),
        );
    }

    let validation = create(&app, &admin, &invalid).await;
    let malformed = app
        .send(raw(
            "/api/patients",
            r#"{"firstName": "#,
            Some("application/json"),
            &admin.token,
        ))
        .await;
    let too_large = app
        .send(raw(
            "/api/patients",
            format!(r#"{{"firstName":"{}"}}"#, "x".repeat(70 * 1024)),
            Some("application/json"),
            &admin.token,
        ))
        .await;
    let not_json = app
        .send(raw(
            "/api/patients",
            "firstName=Avery",
            Some("text/plain"),
            &admin.token,
        ))
        .await;
    let wrong_method = app
        .json_as(&admin, Method::PUT, "/api/patients", &json!({}))
        .await;
    let long_uri = app.get(&format!("/health?{}", "q".repeat(9 * 1024))).await;
    let many_headers = app.send(headers).await;

    assert_envelope("validation_error", &validation);
    assert_envelope("malformed_json", &malformed);
    assert_envelope("payload_too_large", &too_large);
    assert_envelope("unsupported_media_type", &not_json);
    assert_envelope("method_not_allowed", &wrong_method);
    assert_envelope("uri_too_long", &long_uri);
    assert_envelope("headers_too_large", &many_headers);
}

#[tokio::test]
async fn failed_authentication_answers_its_envelopes() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    let enrolled = app.user_in(user.organization_id, Role::Billing).await;
    enrol(&app, &enrolled).await;
    let cookie_login = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": user.email, "password": PASSWORD, "session": "cookie" }),
        )
        .await;
    let jar: String = cookie_login
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|c| c.to_str().expect("ascii").split(';').next().expect("pair"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut forged = json_request(Method::POST, "/api/auth/logout", &json!({}), None);
    forged
        .headers_mut()
        .insert(header::COOKIE, jar.parse().expect("cookie"));

    let anonymous = app.get("/api/patients").await;
    let wrong_password = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": user.email, "password": "not the password at all" }),
        )
        .await;
    let no_code = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": enrolled.email, "password": PASSWORD }),
        )
        .await;
    let stale_refresh = refresh(&app, "hvn_rt_not-a-token").await;
    let no_csrf = app.send(forged).await;

    assert_envelope("unauthenticated", &anonymous);
    assert_envelope("invalid_credentials", &wrong_password);
    assert_envelope("mfa_required", &no_code);
    assert_envelope("unauthenticated_refresh", &stale_refresh);
    assert_envelope("csrf_failed", &no_csrf);
}

#[tokio::test]
async fn refused_requests_answer_their_envelopes() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let other = app.org_with("Practice B", Role::Admin).await;
    create(&app, &admin, &patient("MRN-1", "Castellano")).await;
    let owner = app.db().owner_pool().await;
    sqlx::query("UPDATE organizations SET require_mfa_for_admins = true WHERE id = $1")
        .bind(other.organization_id)
        .execute(&owner)
        .await
        .expect("require MFA");

    let forbidden = app.get_as(&clinician, "/api/users").await;
    let unenrolled = app.get_as(&other, "/api/users").await;
    let unknown = app
        .get_as(&admin, &format!("/api/patients/{}", uuid::Uuid::now_v7()))
        .await;
    let no_route = app.get_as(&admin, "/api/nothing-here").await;
    let duplicate = create(&app, &admin, &patient("MRN-1", "Other")).await;

    assert_envelope("forbidden", &forbidden);
    assert_envelope("forbidden_until_mfa_enrolment", &unenrolled);
    assert_envelope("not_found", &unknown);
    assert_envelope("not_found_route", &no_route);
    assert_envelope("conflict", &duplicate);
}

#[tokio::test]
async fn refused_unit_operations_answer_their_envelopes() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let small = authorization(&app, &p.admin, &p.patient, 3).await;
    let used_up = authorization(&app, &p.admin, &p.patient, 1).await;
    reserved(&app, &p.admin, &used_up, 1).await;
    let cancelled = authorization(&app, &p.admin, &p.patient, 5).await;
    as_owner(
        &app,
        "UPDATE authorizations SET status = 'CANCELLED' WHERE id = $1::uuid",
        &cancelled,
    )
    .await;
    let mut last_year = authorization_body(&p.patient, 5);
    last_year["startDate"] = json!("2020-01-01");
    last_year["endDate"] = json!("2020-12-31");
    let last_year = post(&app, &p.admin, "/api/authorizations", last_year)
        .await
        .json()["authorization"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let session = reserved(&app, &p.admin, &small, 1).await;
    let cancel = format!("/api/sessions/{session}/cancel");
    post(&app, &p.admin, &cancel, json!({ "reason": "rescheduled" })).await;

    let insufficient = reserve(&app, &p.admin, &small, 4).await;
    let exhausted = reserve(&app, &p.admin, &used_up, 1).await;
    let expired = reserve(&app, &p.admin, &last_year, 1).await;
    let not_active = reserve(&app, &p.admin, &cancelled, 1).await;
    let invalid_state = post(&app, &p.admin, &cancel, json!({ "reason": "again" })).await;
    let adjustment = post(
        &app,
        &p.admin,
        &format!("/api/authorizations/{small}/adjust"),
        json!({ "adjustment": 10, "reason": "units used elsewhere" }),
    )
    .await;

    assert_envelope("insufficient_units", &insufficient);
    assert_envelope("authorization_exhausted", &exhausted);
    assert_envelope("authorization_expired", &expired);
    assert_envelope("authorization_not_active", &not_active);
    assert_envelope("invalid_state", &invalid_state);
    assert_envelope("invalid_adjustment", &adjustment);
}

#[tokio::test]
async fn the_rate_limit_answers_its_envelope() {
    let mut settings = haven::app::Settings::development();
    settings.auth.auth_rate_limit = 1;
    let app = TestApp::with_settings(settings).await;
    let body = json!({ "email": "nobody@example.org", "password": "whatever-it-is-123" });
    app.json(Method::POST, "/api/auth/login", &body).await;

    let limited = app.json(Method::POST, "/api/auth/login", &body).await;

    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_envelope("rate_limited", &limited);
}
