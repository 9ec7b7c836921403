//! `GET /api/admin/btg/config`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

#[tokio::test]
async fn the_config_names_the_allowed_durations_and_the_minimum_justification() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;

    let config = app.get_as(&admin, "/api/admin/btg/config").await;
    let refused = app.get_as(&clinician, "/api/admin/btg/config").await;

    assert_eq!(config.status, StatusCode::OK);
    assert_eq!(
        config.json(),
        json!({
            "allowedDurationsMinutes": [15, 30, 60, 120, 240, 480],
            "defaultDurationMinutes": 60,
            "minJustificationLength": 50,
        })
    );
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}
