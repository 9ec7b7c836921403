//! `POST /api/authorizations` (and reading the result back): SPEC defaults, bad input.

use axum::http::{Method, StatusCode};
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::post;
use crate::fixtures::units::{audited, authorization_body, day, get_authorization, practice};

#[tokio::test]
async fn an_admin_creates_and_reads_an_authorization_with_spec_defaults() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;

    let created = app
        .json_as(
            &p.admin,
            Method::POST,
            "/api/authorizations",
            &authorization_body(&p.patient, 95),
        )
        .await;

    assert_eq!(created.status, StatusCode::CREATED);
    let body = created.json()["authorization"].clone();
    for (field, value) in [
        ("patientId", json!(p.patient)),
        ("payerName", json!("Blue Harbor Health")),
        ("memberId", json!("BH-20391")),
        ("serviceCode", json!("97153")),
        ("unitMinutes", json!(15)),
        ("totalUnits", json!(95)),
        ("usedUnits", json!(0)),
        ("availableUnits", json!(95)),
        ("lowUnitsThreshold", json!(10)),
        ("startDate", json!(day(-30))),
        ("endDate", json!(day(180))),
        ("status", json!("ACTIVE")),
    ] {
        assert_eq!(body[field], value, "{field}");
    }
    let id = body["id"].as_str().expect("id");
    assert_eq!(get_authorization(&app, &p.admin, id).await, body);
    let org = p.admin.organization_id;
    assert_eq!(audited(&app, org, "AUTHORIZATION_CREATE").await.len(), 1);
    assert!(
        !audited(&app, org, "PATIENT_READ").await.is_empty(),
        "reads are audited"
    );
    let owner = app.db().owner_pool().await;
    let stored: Vec<u8> = sqlx::query_scalar("SELECT member_id FROM authorizations")
        .fetch_one(&owner)
        .await
        .expect("row");
    assert!(
        !String::from_utf8_lossy(&stored).contains("BH-20391"),
        "the member id is encrypted at rest"
    );
}

#[tokio::test]
async fn bad_authorization_input_is_refused_by_field_and_nothing_is_written() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let base = authorization_body(&p.patient, 10);
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let cases = [
        ("totalUnits", with("totalUnits", json!(0))),
        ("totalUnits", with("totalUnits", json!(-5))),
        ("totalUnits", with("totalUnits", json!(10_000_000))),
        ("totalUnits", with("totalUnits", json!(1e30))),
        ("endDate", with("endDate", json!(day(-31)))),
        ("serviceCode", with("serviceCode", json!("97;DROP"))),
        ("serviceCode", with("serviceCode", json!("971"))),
        ("startDate", with("startDate", json!("2026-02-30"))),
        ("endDate", with("endDate", json!("next week"))),
        ("unitMinutes", with("unitMinutes", json!(0))),
        ("lowUnitsThreshold", with("lowUnitsThreshold", json!(11))),
        ("payerName", with("payerName", json!(" "))),
        ("memberId", with("memberId", json!("x y"))),
        ("surprise", with("surprise", json!(1))),
    ];

    for (field, body) in cases {
        let response = post(&app, &p.admin, "/api/authorizations", body).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{field}");
        assert_eq!(response.error_code(), "VALIDATION_ERROR");
        assert!(
            response.json()["details"].get(field).is_some(),
            "{field}: {}",
            response.json()
        );
    }
    let owner = app.db().owner_pool().await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM authorizations")
        .fetch_one(&owner)
        .await
        .expect("count");
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_created_authorization_keeps_its_shape() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;

    let created = post(
        &app,
        &p.admin,
        "/api/authorizations",
        authorization_body(&p.patient, 95),
    )
    .await;

    assert_eq!(created.status, StatusCode::CREATED);
    insta::assert_json_snapshot!(created.json(), {
        ".authorization.id" => "[id]",
        ".authorization.patientId" => "[id]",
        ".authorization.startDate" => "[date]",
        ".authorization.endDate" => "[date]",
        ".authorization.createdAt" => "[timestamp]",
        ".authorization.updatedAt" => "[timestamp]",
    });
}
