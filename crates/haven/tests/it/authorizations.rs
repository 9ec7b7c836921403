//! `/api/authorizations`: create, list with filters, get, adjust; roles; other tenants; bad
//! input.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::units_fixtures::{
    as_owner, assert_ledger_balanced, audited, authorization, authorization_body, day,
    get_authorization, ledger_rows, patient, post, practice, reserved,
};

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
async fn each_role_gets_what_spec_section_3_allows() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let org = p.admin.organization_id;
    let billing = app.user_in(org, Role::Billing).await;
    let clinician = app.user_in(org, Role::Clinician).await;
    let compliance = app.user_in(org, Role::Compliance).await;
    let other_patient = patient(&app, &p.admin, "MRN-2").await;

    let by_billing = authorization(&app, &billing, &p.patient, 20).await;
    let elsewhere = authorization(&app, &p.admin, &other_patient, 20).await;
    for user in [&clinician, &compliance] {
        let response = post(
            &app,
            user,
            "/api/authorizations",
            authorization_body(&p.patient, 5),
        )
        .await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{:?}", user.role);
    }
    assert_eq!(
        app.get_as(&compliance, "/api/authorizations").await.status,
        StatusCode::FORBIDDEN
    );
    // A clinician sees the authorizations of their care-team patients only.
    let added = post(
        &app,
        &p.admin,
        &format!("/api/patients/{}/care-team", p.patient),
        json!({ "userId": clinician.id }),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED);
    let list = app.get_as(&clinician, "/api/authorizations").await.json();
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["authorizations"][0]["id"], json!(by_billing));
    let hidden = app
        .get_as(&clinician, &format!("/api/authorizations/{elsewhere}"))
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get_as(&billing, "/api/authorizations").await.json()["pagination"]["total"],
        2
    );
    assert!(audited(&app, org, "ACCESS_DENIED").await.len() >= 3);
}

#[tokio::test]
async fn lists_filter_by_patient_status_expiry_and_low_units() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let second = patient(&app, &p.admin, "MRN-2").await;
    let full = authorization(&app, &p.admin, &p.patient, 10).await;
    let low = authorization(&app, &p.admin, &p.patient, 20).await;
    let other = authorization(&app, &p.admin, &second, 10).await;
    let mut soon = authorization_body(&second, 10);
    soon["endDate"] = json!(day(10));
    let soon = post(&app, &p.admin, "/api/authorizations", soon)
        .await
        .json()["authorization"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut past = authorization_body(&second, 10);
    past["startDate"] = json!(day(-60));
    past["endDate"] = json!(day(-1));
    post(&app, &p.admin, "/api/authorizations", past).await;
    reserved(&app, &p.admin, &full, 10).await;
    reserved(&app, &p.admin, &low, 19).await;

    let ids = |value: Value| -> Vec<String> {
        value["authorizations"]
            .as_array()
            .expect("list")
            .iter()
            .map(|a| a["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let query = |q: &'static str| {
        let app = &app;
        let admin = &p.admin;
        async move {
            app.get_as(admin, &format!("/api/authorizations?{q}"))
                .await
                .json()
        }
    };
    let mine = query_patient(&app, &p.admin, &p.patient).await;
    assert_eq!(mine.len(), 2);
    assert_eq!(ids(query("status=EXHAUSTED").await), vec![full.clone()]);
    assert_eq!(query("status=EXPIRED").await["pagination"]["total"], 1);
    assert_eq!(
        ids(query("expiringWithinDays=30").await),
        vec![soon.clone()]
    );
    let low_list = ids(query("lowUnits=true").await);
    assert!(low_list.contains(&low) && low_list.contains(&full) && !low_list.contains(&other));
    assert_eq!(
        app.get_as(&p.admin, "/api/authorizations?status=GONE")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let page = query("limit=2&page=3").await;
    assert_eq!(
        page["pagination"],
        json!({"page": 3, "limit": 2, "total": 5, "totalPages": 3})
    );
}

async fn query_patient(app: &TestApp, user: &haven_testkit::TestUser, patient: &str) -> Vec<Value> {
    app.get_as(user, &format!("/api/authorizations?patientId={patient}"))
        .await
        .json()["authorizations"]
        .as_array()
        .expect("list")
        .clone()
}

#[tokio::test]
async fn adjustments_move_used_units_within_bounds_with_the_spec_messages() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let org = p.admin.organization_id;
    let billing = app.user_in(org, Role::Billing).await;
    let clinician = app.user_in(org, Role::Clinician).await;
    let id = authorization(&app, &p.admin, &p.patient, 10).await;
    let path = format!("/api/authorizations/{id}/adjust");

    let up = post(
        &app,
        &billing,
        &path,
        json!({ "adjustment": 4, "reason": "units used at another site" }),
    )
    .await;
    assert_eq!(up.status, StatusCode::OK);
    assert_eq!(up.json()["success"], true);
    assert_eq!(up.json()["authorization"]["usedUnits"], 4);
    let down = post(
        &app,
        &p.admin,
        &path,
        json!({ "adjustment": -3, "reason": "correction" }),
    )
    .await;
    assert_eq!(down.json()["authorization"]["availableUnits"], 9);

    for (adjustment, message) in [
        (-2, "Adjustment would result in negative used units"),
        (10, "Adjustment would exceed total units"),
        (
            -5_000_000_000_i64,
            "Adjustment would result in negative used units",
        ),
        // Within i32 but past any total: refused before the database could overflow int4.
        (i64::from(i32::MAX), "Adjustment would exceed total units"),
        (i64::MIN, "Adjustment would result in negative used units"),
    ] {
        let refused = post(
            &app,
            &p.admin,
            &path,
            json!({ "adjustment": adjustment, "reason": "x" }),
        )
        .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            refused.json(),
            json!({"success": false, "error": "INVALID_ADJUSTMENT", "message": message})
        );
    }
    let zero = post(
        &app,
        &p.admin,
        &path,
        json!({ "adjustment": 0, "reason": "x" }),
    )
    .await;
    assert_eq!(zero.status, StatusCode::BAD_REQUEST);
    let no_reason = post(
        &app,
        &p.admin,
        &path,
        json!({ "adjustment": 1, "reason": "" }),
    )
    .await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    let forbidden = post(
        &app,
        &clinician,
        &path,
        json!({ "adjustment": 1, "reason": "x" }),
    )
    .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

    assert_eq!(
        ledger_rows(&app, &id).await,
        vec![("ADJUST".to_owned(), 4), ("ADJUST".to_owned(), -3)]
    );
    assert_eq!(audited(&app, org, "AUTHORIZATION_ADJUST").await.len(), 2);
    assert_ledger_balanced(&app, org).await;
}

#[tokio::test]
async fn another_practice_gets_404_on_every_authorization_endpoint_and_is_audited() {
    let app = TestApp::new().await;
    let a = practice(&app, "Practice A").await;
    let b = practice(&app, "Practice B").await;
    let id = authorization(&app, &a.admin, &a.patient, 10).await;

    let read = app
        .get_as(&b.admin, &format!("/api/authorizations/{id}"))
        .await;
    let adjust = post(
        &app,
        &b.admin,
        &format!("/api/authorizations/{id}/adjust"),
        json!({ "adjustment": 5, "reason": "steal" }),
    )
    .await;
    let create = post(
        &app,
        &b.admin,
        "/api/authorizations",
        authorization_body(&a.patient, 5),
    )
    .await;

    for response in [&read, &adjust, &create] {
        assert_eq!(response.status, StatusCode::NOT_FOUND);
        assert_eq!(response.error_code(), "NOT_FOUND");
    }
    let attempts = audited(&app, b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT").await;
    assert_eq!(attempts.len(), 3);
    assert!(attempts.iter().all(
        |d| d["targetOrganizationId"] == json!(a.admin.organization_id)
            && d["callerOrganizationId"] == json!(b.admin.organization_id)
    ));
    assert_eq!(get_authorization(&app, &a.admin, &id).await["usedUnits"], 0);
    assert!(ledger_rows(&app, &id).await.is_empty());
    assert_eq!(
        app.get_as(&b.admin, "/api/authorizations").await.json()["pagination"]["total"],
        0
    );
    // A cancelled authorization refuses reservations but still reads.
    as_owner(
        &app,
        "UPDATE authorizations SET status = 'CANCELLED' WHERE id = $1::uuid",
        &id,
    )
    .await;
    assert_eq!(
        get_authorization(&app, &a.admin, &id).await["status"],
        "CANCELLED"
    );
}

#[tokio::test]
async fn an_adjustment_cannot_take_back_units_that_open_sessions_still_hold() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let id = authorization(&app, &p.admin, &p.patient, 10).await;
    let path = format!("/api/authorizations/{id}/adjust");
    post(
        &app,
        &p.admin,
        &path,
        json!({ "adjustment": 1, "reason": "prior visit" }),
    )
    .await;
    let session = reserved(&app, &p.admin, &id, 3).await;

    let below_held = post(
        &app,
        &p.admin,
        &path,
        json!({ "adjustment": -2, "reason": "x" }),
    )
    .await;
    let down_to_held = post(
        &app,
        &p.admin,
        &path,
        json!({ "adjustment": -1, "reason": "x" }),
    )
    .await;
    let cancel = post(
        &app,
        &p.admin,
        &format!("/api/sessions/{session}/cancel"),
        json!({ "reason": "rescheduled" }),
    )
    .await;

    assert_eq!(below_held.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        below_held.json()["message"],
        "Adjustment would result in negative used units"
    );
    assert_eq!(down_to_held.status, StatusCode::OK);
    assert_eq!(cancel.status, StatusCode::OK);
    assert_eq!(cancel.json()["remainingUnits"], 10);
    assert_ledger_balanced(&app, p.admin.organization_id).await;
}
