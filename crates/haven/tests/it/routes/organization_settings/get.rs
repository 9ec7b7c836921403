//! `GET /api/organization/settings`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;

#[tokio::test]
async fn a_new_practice_is_in_utc() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;

    let response = app.get_as(&admin, "/api/organization/settings").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["settings"]["timeZone"], "UTC");
}

#[tokio::test]
async fn only_admins_read_the_settings() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    for role in [
        Role::Clinician,
        Role::Billing,
        Role::Compliance,
        Role::Scheduler,
    ] {
        let user = app.user_in(admin.organization_id, role).await;

        let response = app.get_as(&user, "/api/organization/settings").await;

        assert_eq!(response.status, StatusCode::FORBIDDEN, "{role}");
    }
    assert!(app.audited(admin.organization_id, "ACCESS_DENIED").await);
}
