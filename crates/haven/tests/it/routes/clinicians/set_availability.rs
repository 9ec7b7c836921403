//! `PUT /api/clinicians/{userId}/availability`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::scheduling::{set_availability, text, week_body};

#[tokio::test]
async fn a_scheduler_sets_a_clinicians_weekly_hours() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let scheduler = app.user_in(admin.organization_id, Role::Scheduler).await;
    let body = json!({
        "timeZone": "America/New_York",
        "rules": [
            { "daysOfWeek": ["MO", "WE"], "startTime": "09:00", "endTime": "12:00" },
            { "daysOfWeek": ["TU"], "startTime": "13:00", "endTime": "24:00", "serviceCodes": ["97155", "97153"] },
        ],
        "bufferMinutes": 10,
        "effectiveFrom": "2027-01-04",
        "effectiveTo": "2027-12-31",
    });

    let response = set_availability(&app, &scheduler, &clinician.id.to_string(), &body).await;

    assert_eq!(response.status, StatusCode::OK, "{}", text(&response));
    let availability = response.json()["availability"].clone();
    assert_eq!(availability["timeZone"], "America/New_York");
    assert_eq!(availability["bufferMinutes"], 10);
    assert_eq!(availability["effectiveTo"], "2027-12-31");
    assert_eq!(
        availability["rules"],
        json!([
            { "daysOfWeek": ["MO", "WE"], "startTime": "09:00", "endTime": "12:00" },
            { "daysOfWeek": ["TU"], "startTime": "13:00", "endTime": "24:00", "serviceCodes": ["97153", "97155"] },
        ])
    );
    assert!(
        app.audited(admin.organization_id, "AVAILABILITY_UPDATE")
            .await
    );
}

#[tokio::test]
async fn the_practice_zone_is_the_default_and_a_put_replaces_the_rules() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let id = clinician.id.to_string();
    set_availability(&app, &clinician, &id, &week_body(0)).await;
    let mut body = week_body(0);
    body.as_object_mut().expect("object").remove("timeZone");
    body["rules"] = json!([{ "daysOfWeek": ["SA"], "startTime": "08:00", "endTime": "10:00" }]);

    let response = set_availability(&app, &clinician, &id, &body).await;

    assert_eq!(response.status, StatusCode::OK, "{}", text(&response));
    let availability = response.json()["availability"].clone();
    assert_eq!(availability["timeZone"], "UTC");
    assert_eq!(availability["rules"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn invalid_rules_are_refused_naming_each_field() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let body = json!({
        "timeZone": "Mars/Base",
        "rules": [{ "daysOfWeek": ["XX"], "startTime": "17:00", "endTime": "09:00", "serviceCodes": ["bad code"] }],
        "bufferMinutes": 500,
        "effectiveFrom": "2027-02-30",
    });

    let response = set_availability(&app, &admin, &clinician.id.to_string(), &body).await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let details = response.json()["details"].clone();
    for field in [
        "rules[0].daysOfWeek",
        "rules[0].endTime",
        "rules[0].serviceCodes",
        "bufferMinutes",
        "effectiveFrom",
    ] {
        assert!(details[field].is_string(), "{field}: {details}");
    }
    let unknown_zone =
        json!({ "timeZone": "Mars/Base", "rules": [], "effectiveFrom": "2027-01-01" });
    let response = set_availability(&app, &admin, &clinician.id.to_string(), &unknown_zone).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert!(response.json()["details"]["timeZone"].is_string());
    assert!(
        !app.audited(admin.organization_id, "AVAILABILITY_UPDATE")
            .await
    );
}

#[tokio::test]
async fn a_clinician_sets_only_their_own_and_billing_none() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let colleague = app.user_in(admin.organization_id, Role::Clinician).await;
    let billing = app.user_in(admin.organization_id, Role::Billing).await;

    let other = set_availability(&app, &colleague, &clinician.id.to_string(), &week_body(0)).await;
    let by_billing =
        set_availability(&app, &billing, &clinician.id.to_string(), &week_body(0)).await;
    let own = set_availability(&app, &clinician, &clinician.id.to_string(), &week_body(0)).await;

    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert_eq!(by_billing.status, StatusCode::FORBIDDEN);
    assert_eq!(own.status, StatusCode::OK);
    assert!(app.audited(admin.organization_id, "ACCESS_DENIED").await);
}

#[tokio::test]
async fn another_practices_clinician_is_not_found_and_the_attempt_audited() {
    let app = TestApp::new().await;
    let a = app.org_with("Practice A", Role::Admin).await;
    let theirs = app.user_in(a.organization_id, Role::Clinician).await;
    let b = app.org_with("Practice B", Role::Admin).await;

    let response = set_availability(&app, &b, &theirs.id.to_string(), &week_body(0)).await;

    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(b.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
    let read = app
        .get_as(&a, &format!("/api/clinicians/{}/availability", theirs.id))
        .await;
    assert_eq!(read.json()["availability"], serde_json::Value::Null);
}
