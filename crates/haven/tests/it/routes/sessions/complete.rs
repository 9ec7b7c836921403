//! `POST /api/sessions/{id}/complete` (after reserve and start): by minutes or units, more units
//! than reserved, two completions racing.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::post;
use crate::fixtures::units::{
    assert_ledger_balanced, audited, authorization, get_authorization, ledger_rows, practice,
    reserve, reserved,
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
async fn completing_twice_at_once_lets_exactly_one_win() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let auth = authorization(&app, &p.admin, &p.patient, 20).await;
    let id = reserved(&app, &p.admin, &auth, 2).await;
    let path = format!("/api/sessions/{id}/complete");

    let (one, two) = tokio::join!(
        post(&app, &p.admin, &path, json!({ "actualUnits": 3 })),
        post(&app, &p.admin, &path, json!({ "actualUnits": 3 })),
    );

    let mut statuses = [one.status.as_u16(), two.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    assert!([one, two].iter().any(|r| r.error_code() == "INVALID_STATE"));
    assert_eq!(
        get_authorization(&app, &p.admin, &auth).await["usedUnits"],
        3
    );
    assert_ledger_balanced(&app, p.admin.organization_id).await;
}
