//! `PATCH /api/organization/settings`.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

const PATH: &str = "/api/organization/settings";

#[tokio::test]
async fn an_admin_sets_the_practice_time_zone() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;

    let response = app
        .json_as(
            &admin,
            Method::PATCH,
            PATH,
            &json!({ "timeZone": "America/New_York" }),
        )
        .await;

    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    assert_eq!(response.json()["settings"]["timeZone"], "America/New_York");
    let read = app.get_as(&admin, PATH).await.json();
    assert_eq!(read["settings"]["timeZone"], "America/New_York");
    assert!(app.audited(admin.organization_id, "SETTINGS_UPDATE").await);
}

#[tokio::test]
async fn unknown_or_malformed_time_zones_are_refused_naming_the_field() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    for zone in ["Mars/Olympus_Mons", "EST'; --", "", "../../etc/passwd"] {
        let response = app
            .json_as(&admin, Method::PATCH, PATH, &json!({ "timeZone": zone }))
            .await;

        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{zone}");
        assert!(response.json()["details"]["timeZone"].is_string(), "{zone}");
    }
    let empty = app.json_as(&admin, Method::PATCH, PATH, &json!({})).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let unknown = app
        .json_as(&admin, Method::PATCH, PATH, &json!({ "timezone": "UTC" }))
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get_as(&admin, PATH).await.json()["settings"]["timeZone"],
        "UTC"
    );
}

#[tokio::test]
async fn a_scheduler_cannot_change_the_settings() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let scheduler = app.user_in(admin.organization_id, Role::Scheduler).await;

    let response = app
        .json_as(
            &scheduler,
            Method::PATCH,
            PATH,
            &json!({ "timeZone": "Europe/Paris" }),
        )
        .await;

    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get_as(&admin, PATH).await.json()["settings"]["timeZone"],
        "UTC"
    );
}

#[tokio::test]
async fn an_admin_changes_only_their_own_practice() {
    let app = TestApp::new().await;
    let a = app.org_with("Practice A", Role::Admin).await;
    let b = app.org_with("Practice B", Role::Admin).await;

    let response = app
        .json_as(
            &b,
            Method::PATCH,
            PATH,
            &json!({ "timeZone": "Asia/Tokyo" }),
        )
        .await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        app.get_as(&a, PATH).await.json()["settings"]["timeZone"],
        "UTC"
    );
    assert!(!app.audited(a.organization_id, "SETTINGS_UPDATE").await);
}

#[tokio::test]
async fn an_admin_creates_a_scheduler() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;

    let created = app
        .json_as(
            &admin,
            Method::POST,
            "/api/users",
            &json!({
                "email": "desk@a.example.org", "password": "quiet river orchard 1987",
                "role": "SCHEDULER", "firstName": "Ada", "lastName": "Front",
            }),
        )
        .await;

    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.json()["user"]["role"], "SCHEDULER");
}

#[tokio::test]
async fn an_admin_sets_the_hours_notes_are_due_and_bad_values_are_refused() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    assert_eq!(
        app.get_as(&admin, PATH).await.json()["settings"]["noteDueHours"],
        72
    );

    let set = app
        .json_as(&admin, Method::PATCH, PATH, &json!({ "noteDueHours": 48 }))
        .await;
    let zero = app
        .json_as(&admin, Method::PATCH, PATH, &json!({ "noteDueHours": 0 }))
        .await;
    let huge = app
        .json_as(&admin, Method::PATCH, PATH, &json!({ "noteDueHours": 721 }))
        .await;

    assert_eq!(set.status, StatusCode::OK, "{:?}", set.json());
    assert_eq!(set.json()["settings"]["noteDueHours"], 48);
    assert_eq!(set.json()["settings"]["timeZone"], "UTC");
    for refused in [zero, huge] {
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.json()["details"].get("noteDueHours").is_some());
    }
    assert_eq!(
        app.get_as(&admin, PATH).await.json()["settings"]["noteDueHours"],
        48
    );
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let forbidden = app
        .json_as(
            &clinician,
            Method::PATCH,
            PATH,
            &json!({ "noteDueHours": 24 }),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
}
