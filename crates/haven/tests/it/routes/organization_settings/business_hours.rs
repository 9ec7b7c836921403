//! `businessHours` in `/api/organization/settings` (breach detection's AFTER_HOURS_ACCESS).

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

const PATH: &str = "/api/organization/settings";

#[tokio::test]
async fn a_new_practice_has_weekday_hours_and_an_admin_changes_them() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let before = app.get_as(&admin, PATH).await.json();

    let response = app
        .json_as(
            &admin,
            Method::PATCH,
            PATH,
            &json!({ "businessHours": {"start": "07:30", "end": "24:00", "days": [1, 2, 3, 4, 5, 6]} }),
        )
        .await;

    assert_eq!(
        before["settings"]["businessHours"],
        json!({"start": "06:00", "end": "22:00", "days": [1, 2, 3, 4, 5]})
    );
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    assert_eq!(
        app.get_as(&admin, PATH).await.json()["settings"]["businessHours"],
        json!({"start": "07:30", "end": "24:00", "days": [1, 2, 3, 4, 5, 6]})
    );
    let changed = app
        .audit_events(admin.organization_id)
        .await
        .into_iter()
        .find(|(a, _, _)| a == "SETTINGS_UPDATE")
        .map(|(_, _, d)| d)
        .expect("audited");
    assert_eq!(changed["changed"]["businessHours"]["start"], "07:30");
}

#[tokio::test]
async fn bad_hours_are_refused_naming_the_field_and_nothing_changes() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let cases = [
        (
            json!({"start": "22:00", "end": "06:00", "days": [1]}),
            "businessHours.end",
        ),
        (
            json!({"start": "6am", "end": "22:00", "days": [1]}),
            "businessHours.start",
        ),
        (
            json!({"start": "06:00", "end": "25:00", "days": [1]}),
            "businessHours.end",
        ),
        (
            json!({"start": "06:00", "end": "22:00", "days": [0]}),
            "businessHours.days",
        ),
        (
            json!({"start": "06:00", "end": "22:00", "days": [2, 2]}),
            "businessHours.days",
        ),
    ];
    for (hours, field) in cases {
        let response = app
            .json_as(
                &admin,
                Method::PATCH,
                PATH,
                &json!({ "businessHours": hours }),
            )
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{field}");
        assert!(response.json()["details"][field].is_string(), "{field}");
    }
    let missing = app
        .json_as(
            &admin,
            Method::PATCH,
            PATH,
            &json!({ "businessHours": {"start": "06:00"} }),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get_as(&admin, PATH).await.json()["settings"]["businessHours"]["start"],
        "06:00"
    );
}
