//! `GET /api/availability`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::scheduling::{booked, clinic, set_availability, text};

fn starts(body: &Value) -> Vec<String> {
    body["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|s| s["start"].as_str().expect("start").to_owned())
        .collect()
}

#[tokio::test]
async fn free_slots_skip_busy_time_and_its_buffer_on_the_grid() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 15).await;
    booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        "2027-03-15T13:00:00Z",
        json!({}),
    )
    .await;
    let path = format!(
        "/api/availability?clinicianIds={}&durationMinutes=60&granularityMinutes=30\
         &from=2027-03-15T00:00:00Z&to=2027-03-16T00:00:00Z",
        c.clinician.id
    );

    let response = app.get_as(&c.scheduler, &path).await;

    assert_eq!(response.status, StatusCode::OK, "{}", text(&response));
    let body = response.json();
    let found = starts(&body);
    // Busy 13:00–14:15 (60 minutes + 15 of buffer); hours end 21:00Z (17:00 EDT).
    assert_eq!(
        found.first().map(String::as_str),
        Some("2027-03-15T14:30:00Z")
    );
    assert_eq!(
        found.last().map(String::as_str),
        Some("2027-03-15T20:00:00Z")
    );
    assert_eq!(found.len(), 12);
    assert_eq!(body["truncated"], false);
    assert_eq!(body["slots"][0]["end"], "2027-03-15T15:30:00Z");
    // Every slot found can be booked.
    let slot = &body["slots"][0];
    booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        slot["start"].as_str().expect("start"),
        json!({}),
    )
    .await;
}

#[tokio::test]
async fn slots_follow_wall_time_across_the_2027_dst_changes() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let every_day = json!({
        "timeZone": "America/New_York",
        "rules": [{ "daysOfWeek": ["SU"], "startTime": "09:00", "endTime": "10:00" }],
        "effectiveFrom": "2027-01-01",
    });
    set_availability(&app, &c.admin, &c.clinician.id.to_string(), &every_day).await;
    let query = |from: &str, to: &str| {
        format!(
            "/api/availability?durationMinutes=60&from={from}&to={to}&clinicianIds={}",
            c.clinician.id
        )
    };

    let spring = app
        .get_as(
            &c.admin,
            &query("2027-03-14T00:00:00Z", "2027-03-15T00:00:00Z"),
        )
        .await
        .json();
    let fall = app
        .get_as(
            &c.admin,
            &query("2027-11-07T00:00:00Z", "2027-11-08T00:00:00Z"),
        )
        .await
        .json();

    assert_eq!(starts(&spring), vec!["2027-03-14T13:00:00Z"]);
    assert_eq!(starts(&fall), vec!["2027-11-07T14:00:00Z"]);
}

#[tokio::test]
async fn a_limited_answer_says_it_was_truncated() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;

    let body = app
        .get_as(
            &c.clinician,
            "/api/availability?durationMinutes=30&from=2027-03-15T00:00:00Z&to=2027-03-20T00:00:00Z&limit=3",
        )
        .await
        .json();

    assert_eq!(starts(&body).len(), 3);
    assert_eq!(body["truncated"], true);
}

#[tokio::test]
async fn invalid_searches_name_the_field() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let cases = [
        (
            "durationMinutes=60&from=2027-03-01T00:00:00Z&to=2027-04-15T00:00:00Z",
            "to",
        ),
        (
            "durationMinutes=60&from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z&limit=1001",
            "limit",
        ),
        (
            "durationMinutes=5&from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z",
            "durationMinutes",
        ),
        (
            "durationMinutes=60&from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z&clinicianIds=x",
            "clinicianIds",
        ),
        (
            "durationMinutes=60&from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z&granularityMinutes=1",
            "granularityMinutes",
        ),
        (
            "durationMinutes=60&from=yesterday&to=2027-03-02T00:00:00Z",
            "from",
        ),
    ];
    for (query, field) in cases {
        let response = app
            .get_as(&c.admin, &format!("/api/availability?{query}"))
            .await;

        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{field}");
        assert!(
            response.json()["details"][field].is_string(),
            "{field}: {}",
            text(&response)
        );
    }
}

#[tokio::test]
async fn every_staff_role_searches_but_not_the_platform() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let path =
        "/api/availability?durationMinutes=60&from=2027-03-15T00:00:00Z&to=2027-03-16T00:00:00Z";
    let billing = app.user_in(c.admin.organization_id, Role::Billing).await;
    let operator = app.user_in(c.admin.organization_id, Role::SuperAdmin).await;

    assert_eq!(app.get_as(&billing, path).await.status, StatusCode::OK);
    assert_eq!(
        app.get_as(&operator, path).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn another_practices_clinicians_have_no_slots_here() {
    let app = TestApp::new().await;
    let a = clinic(&app, "Practice A", 0).await;
    let b = clinic(&app, "Practice B", 0).await;
    let path = format!(
        "/api/availability?durationMinutes=60&from=2027-03-15T00:00:00Z&to=2027-03-16T00:00:00Z&clinicianIds={}",
        a.clinician.id
    );

    let theirs = app.get_as(&b.scheduler, &path).await.json();
    let own = app.get_as(&a.scheduler, &path).await.json();

    assert_eq!(starts(&theirs), Vec::<String>::new());
    assert!(!starts(&own).is_empty());
}
