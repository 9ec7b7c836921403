//! `/api/sessions`: the life cycle (reserve, start, complete by units or minutes, cancel),
//! refusals and illegal transitions.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::json;

use crate::units_fixtures::{
    as_owner, assert_ledger_balanced, audited, authorization, get_authorization, ledger_rows, post,
    practice, reserve, reserve_at, reserved,
};

fn kinds(rows: &[(String, i32)]) -> Vec<(&str, i32)> {
    rows.iter().map(|(k, u)| (k.as_str(), *u)).collect()
}

#[tokio::test]
async fn a_session_is_reserved_started_and_completed_by_minutes() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let org = p.admin.organization_id;
    let auth = authorization(&app, &p.admin, &p.patient, 20).await;

    let created = reserve(&app, &p.admin, &auth, 4).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let body = created.json();
    assert_eq!(
        (body["success"].clone(), body["remainingUnits"].clone()),
        (json!(true), json!(16))
    );
    assert_eq!(body["session"]["status"], "SCHEDULED");
    assert_eq!(body["session"]["expectedUnits"], 4);
    assert_eq!(body["session"]["authorizationId"], json!(auth));
    assert_eq!(body["session"]["patientId"], json!(p.patient));
    let id = body["session"]["id"].as_str().expect("id").to_owned();

    let started = post(
        &app,
        &p.admin,
        &format!("/api/sessions/{id}/start"),
        json!({}),
    )
    .await;
    assert_eq!(started.status, StatusCode::OK);
    assert_eq!(started.json()["session"]["status"], "IN_PROGRESS");
    assert_eq!(started.json()["remainingUnits"], 16);
    // 52 minutes of 15-minute units: 3 units by the 8-minute rule; 1 of 4 goes back.
    let done = post(
        &app,
        &p.admin,
        &format!("/api/sessions/{id}/complete"),
        json!({ "actualMinutes": 52 }),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK);
    let done = done.json();
    assert_eq!(done["session"]["status"], "COMPLETED");
    assert_eq!(done["session"]["actualUnits"], 3);
    assert_eq!(done["session"]["actualMinutes"], 52);
    assert_eq!(done["remainingUnits"], 17);

    let read = app.get_as(&p.admin, &format!("/api/sessions/{id}")).await;
    assert_eq!(read.json()["session"], done["session"]);
    assert_eq!(
        kinds(&ledger_rows(&app, &auth).await),
        vec![("RESERVE", 4), ("CONSUME", 0), ("RELEASE", -1)]
    );
    for action in ["SESSION_RESERVE", "SESSION_START", "SESSION_COMPLETE"] {
        assert_eq!(audited(&app, org, action).await.len(), 1, "{action}");
    }
    assert_ledger_balanced(&app, org).await;
}

#[tokio::test]
async fn completing_with_more_units_takes_them_atomically_or_fails() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let auth = authorization(&app, &p.admin, &p.patient, 10).await;
    let first = reserved(&app, &p.admin, &auth, 2).await;
    let second = reserved(&app, &p.admin, &auth, 6).await;

    let more = post(
        &app,
        &p.admin,
        &format!("/api/sessions/{first}/complete"),
        json!({ "actualUnits": 4 }),
    )
    .await;
    assert_eq!(more.status, StatusCode::OK);
    assert_eq!(more.json()["remainingUnits"], 0);
    let too_many = post(
        &app,
        &p.admin,
        &format!("/api/sessions/{second}/complete"),
        json!({ "actualUnits": 7 }),
    )
    .await;
    assert_eq!(too_many.status, StatusCode::CONFLICT);
    assert_eq!(too_many.error_code(), "INSUFFICIENT_UNITS");
    let exact = post(
        &app,
        &p.admin,
        &format!("/api/sessions/{second}/complete"),
        json!({ "actualUnits": 6 }),
    )
    .await;
    assert_eq!(exact.status, StatusCode::OK);

    assert_eq!(
        get_authorization(&app, &p.admin, &auth).await["status"],
        "EXHAUSTED"
    );
    assert_eq!(
        kinds(&ledger_rows(&app, &auth).await),
        vec![
            ("RESERVE", 2),
            ("RESERVE", 6),
            ("CONSUME", 2),
            ("CONSUME", 0)
        ]
    );
    for body in [
        json!({}),
        json!({ "actualUnits": 1, "actualMinutes": 15 }),
        json!({ "actualUnits": -1 }),
        json!({ "actualMinutes": 100_000 }),
    ] {
        let bad = post(
            &app,
            &p.admin,
            &format!("/api/sessions/{first}/complete"),
            body.clone(),
        )
        .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{body}");
    }
    assert_ledger_balanced(&app, p.admin.organization_id).await;
}

#[tokio::test]
async fn cancelling_releases_units_and_illegal_transitions_are_invalid_state() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let auth = authorization(&app, &p.admin, &p.patient, 10).await;
    let cancelled = reserved(&app, &p.admin, &auth, 10).await;
    assert_eq!(
        get_authorization(&app, &p.admin, &auth).await["status"],
        "EXHAUSTED"
    );

    let cancel = post(
        &app,
        &p.admin,
        &format!("/api/sessions/{cancelled}/cancel"),
        json!({ "reason": "family emergency" }),
    )
    .await;
    assert_eq!(cancel.status, StatusCode::OK);
    assert_eq!(cancel.json()["session"]["status"], "CANCELLED");
    assert_eq!(cancel.json()["session"]["cancelReason"], "family emergency");
    assert_eq!(cancel.json()["remainingUnits"], 10);
    assert_eq!(
        get_authorization(&app, &p.admin, &auth).await["status"],
        "ACTIVE"
    );
    let completed = reserved(&app, &p.admin, &auth, 1).await;
    post(
        &app,
        &p.admin,
        &format!("/api/sessions/{completed}/complete"),
        json!({ "actualUnits": 1 }),
    )
    .await;

    let illegal = [
        (cancelled.as_str(), "complete", json!({ "actualUnits": 1 })),
        (cancelled.as_str(), "start", json!({})),
        (cancelled.as_str(), "cancel", json!({ "reason": "again" })),
        (completed.as_str(), "complete", json!({ "actualUnits": 1 })),
        (completed.as_str(), "start", json!({})),
        (completed.as_str(), "cancel", json!({ "reason": "late" })),
    ];
    for (id, action, body) in illegal {
        let response = post(
            &app,
            &p.admin,
            &format!("/api/sessions/{id}/{action}"),
            body,
        )
        .await;
        assert_eq!(response.status, StatusCode::CONFLICT, "{action}");
        assert_eq!(response.error_code(), "INVALID_STATE");
    }
    let started = reserved(&app, &p.admin, &auth, 1).await;
    post(
        &app,
        &p.admin,
        &format!("/api/sessions/{started}/start"),
        json!({}),
    )
    .await;
    let twice = post(
        &app,
        &p.admin,
        &format!("/api/sessions/{started}/start"),
        json!({}),
    )
    .await;
    assert_eq!(twice.error_code(), "INVALID_STATE");
    let no_reason = post(
        &app,
        &p.admin,
        &format!("/api/sessions/{started}/cancel"),
        json!({ "reason": " " }),
    )
    .await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    assert_ledger_balanced(&app, p.admin.organization_id).await;
}

#[tokio::test]
async fn refused_reservations_answer_their_spec_code_and_write_nothing() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let auth = authorization(&app, &p.admin, &p.patient, 5).await;
    reserved(&app, &p.admin, &auth, 3).await;

    let insufficient = reserve(&app, &p.admin, &auth, 3).await;
    assert_eq!(
        (insufficient.status, insufficient.error_code().as_str()),
        (StatusCode::CONFLICT, "INSUFFICIENT_UNITS")
    );
    let expired = reserve_at(&app, &p.admin, &auth, 1, 60 * 24 * 365).await;
    assert_eq!(expired.error_code(), "AUTHORIZATION_EXPIRED");
    let before = reserve_at(&app, &p.admin, &auth, 1, -60 * 24 * 40).await;
    assert_eq!(before.error_code(), "AUTHORIZATION_EXPIRED");
    let too_long = reserve(&app, &p.admin, &auth, 200).await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
    assert!(too_long.json()["details"]["expectedUnits"].is_string());
    reserved(&app, &p.admin, &auth, 2).await;
    let exhausted = reserve(&app, &p.admin, &auth, 1).await;
    assert_eq!(exhausted.error_code(), "AUTHORIZATION_EXHAUSTED");
    let other = authorization(&app, &p.admin, &p.patient, 5).await;
    as_owner(
        &app,
        "UPDATE authorizations SET status = 'CANCELLED' WHERE id = $1::uuid",
        &other,
    )
    .await;
    let inactive = reserve(&app, &p.admin, &other, 1).await;
    assert_eq!(inactive.error_code(), "AUTHORIZATION_NOT_ACTIVE");
    for units in [
        json!(0),
        json!(-1),
        json!(1_000_000),
        json!(1.5),
        json!("2"),
    ] {
        let response = post(&app, &p.admin, "/api/sessions", json!({
            "authorizationId": auth, "startTime": "2026-01-01T10:00:00Z", "expectedUnits": units,
        })).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{units}");
    }
    let bad_time = post(
        &app,
        &p.admin,
        "/api/sessions",
        json!({
            "authorizationId": auth, "startTime": "tomorrow", "expectedUnits": 1,
        }),
    )
    .await;
    assert!(bad_time.json()["details"]["startTime"].is_string());

    assert_eq!(
        ledger_rows(&app, &auth).await.len(),
        2,
        "only the two accepted reservations"
    );
    assert!(ledger_rows(&app, &other).await.is_empty());
    assert_ledger_balanced(&app, p.admin.organization_id).await;
}
