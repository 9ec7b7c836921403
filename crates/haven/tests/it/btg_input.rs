//! Break-the-glass refusals: roles, other practices, bad input; none leaves a grant behind.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::{TestApp, TestUser};
use serde_json::{Value, json};

use crate::btg::{WHY, audited, expire, grant, grant_id, patient, text};

pub(crate) async fn grants_in_db(app: &TestApp) -> i64 {
    let owner = app.db().owner_pool().await;
    let count = sqlx::query_scalar("SELECT count(*) FROM btg_grants")
        .fetch_one(&owner)
        .await
        .expect("count");
    owner.close().await;
    count
}

pub(crate) async fn post(
    app: &TestApp,
    user: &TestUser,
    path: &str,
    body: Value,
) -> haven_testkit::TestResponse {
    app.json_as(user, Method::POST, path, &body).await
}

#[tokio::test]
async fn only_admins_grant_and_other_roles_get_an_audited_403() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let patient = patient(&app, &admin, "NEG-1").await;
    let org = admin.organization_id;
    let target = app.user_in(org, Role::Clinician).await;

    for role in [Role::Clinician, Role::Billing, Role::Compliance] {
        let user = app.user_in(org, role).await;
        let response = grant(&app, &user, &target, &patient, 60).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{role}");
        assert_eq!(response.error_code(), "FORBIDDEN");
    }
    for role in [Role::Clinician, Role::Billing] {
        let user = app.user_in(org, role).await;
        let listed = app.get_as(&user, "/api/admin/btg/grants").await;
        assert_eq!(listed.status, StatusCode::FORBIDDEN, "{role} lists");
    }
    assert_eq!(grants_in_db(&app).await, 0);
    let denied = app.audit_events(org).await;
    assert!(
        denied
            .iter()
            .filter(|(a, _, d)| a == "ACCESS_DENIED" && d["operation"] == "create_btg_grant")
            .count()
            == 3
    );
}

#[tokio::test]
async fn bad_grant_input_is_a_400_by_field_and_creates_nothing() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let patient = patient(&app, &admin, "NEG-2").await;
    let base = json!({ "grantedToUserId": clinician.id, "patientId": patient, "justification": WHY, "durationMinutes": 60 });
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = base.clone();
        body.as_object_mut().expect("object").remove(field);
        body
    };
    let cases = [
        (without("justification"), "justification"),
        (
            with("justification", json!("Too short to explain an emergency")),
            "justification",
        ),
        (
            with("justification", json!(format!("{:<60}", "x"))),
            "justification",
        ),
        (
            with("justification", json!("x".repeat(2001))),
            "justification",
        ),
        (with("justification", json!(null)), "justification"),
        (with("durationMinutes", json!(45)), "durationMinutes"),
        (with("durationMinutes", json!(0)), "durationMinutes"),
        (with("durationMinutes", json!(-60)), "durationMinutes"),
        (with("durationMinutes", json!(525_600)), "durationMinutes"),
        (with("durationMinutes", json!(1e30)), "durationMinutes"),
        (with("durationMinutes", json!("60")), "durationMinutes"),
        (with("patientId", json!("not-a-uuid")), "patientId"),
        (without("grantedToUserId"), "grantedToUserId"),
        (
            with("expiresAt", json!("2999-01-01T00:00:00Z")),
            "expiresAt",
        ),
    ];

    for (body, field) in cases {
        let response = post(&app, &admin, "/api/admin/btg/grants", body).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{field}: {}",
            text(&response)
        );
        assert_eq!(response.error_code(), "VALIDATION_ERROR");
        assert!(
            response.json()["details"][field].is_string(),
            "{field}: {}",
            text(&response)
        );
    }
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    let to_compliance = post(
        &app,
        &admin,
        "/api/admin/btg/grants",
        with("grantedToUserId", json!(compliance.id)),
    )
    .await;
    assert_eq!(to_compliance.status, StatusCode::BAD_REQUEST);
    assert_eq!(grants_in_db(&app).await, 0);
    assert!(
        audited(&app, admin.organization_id, "BTG_GRANT_ACCESS")
            .await
            .is_empty()
    );

    let defaulted = post(
        &app,
        &admin,
        "/api/admin/btg/grants",
        without("durationMinutes"),
    )
    .await;
    assert_eq!(
        defaulted.status,
        StatusCode::CREATED,
        "{}",
        text(&defaulted)
    );
    let twice = post(&app, &admin, "/api/admin/btg/grants", base.clone()).await;
    assert_eq!(
        twice.status,
        StatusCode::CONFLICT,
        "one active grant per user and patient"
    );
    assert_eq!(grants_in_db(&app).await, 1);
}

#[tokio::test]
async fn revoking_needs_a_reason_and_an_active_grant() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let first = patient(&app, &admin, "NEG-5").await;
    let second = patient(&app, &admin, "NEG-6").await;
    let active = grant_id(&app, &admin, &clinician, &first).await;
    let lapsed = grant_id(&app, &admin, &clinician, &second).await;
    expire(&app, &lapsed).await;
    let revoke = |id: &str| format!("/api/admin/btg/grants/{id}/revoke");

    let no_body = post(&app, &admin, &revoke(&active), json!({})).await;
    let blank = post(&app, &admin, &revoke(&active), json!({ "reason": "   " })).await;
    let by_clinician = post(
        &app,
        &clinician,
        &revoke(&active),
        json!({ "reason": "I am done" }),
    )
    .await;
    let expired = post(
        &app,
        &admin,
        &revoke(&lapsed),
        json!({ "reason": "Too late" }),
    )
    .await;
    let first_time = post(
        &app,
        &admin,
        &revoke(&active),
        json!({ "reason": "Resolved" }),
    )
    .await;
    let second_time = post(
        &app,
        &admin,
        &revoke(&active),
        json!({ "reason": "Resolved" }),
    )
    .await;
    let bad_id = post(&app, &admin, &revoke("nope"), json!({ "reason": "x" })).await;

    assert_eq!(no_body.status, StatusCode::BAD_REQUEST);
    assert!(no_body.json()["details"]["reason"].is_string());
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert_eq!(by_clinician.status, StatusCode::FORBIDDEN);
    assert_eq!(expired.status, StatusCode::CONFLICT);
    assert_eq!(expired.error_code(), "INVALID_STATE");
    assert_eq!(first_time.status, StatusCode::OK);
    assert_eq!(second_time.status, StatusCode::CONFLICT);
    assert_eq!(second_time.error_code(), "INVALID_STATE");
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        audited(&app, admin.organization_id, "BTG_REVOKE_ACCESS")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_status_outside_the_list_is_a_400() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;

    let response = app
        .get_as(&admin, "/api/admin/btg/grants?status=pending")
        .await;
    let limit = app.get_as(&admin, "/api/admin/btg/grants?limit=1000").await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(response.json()["details"]["status"].is_string());
    assert_eq!(limit.status, StatusCode::BAD_REQUEST);
}
