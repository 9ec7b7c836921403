//! `/api/admin/organizations`: platform operators only.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;

use crate::fixtures::organizations::new_org;

#[tokio::test]
async fn only_platform_operators_manage_organizations() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;

    let create = app
        .json_as(
            &admin,
            Method::POST,
            "/api/admin/organizations",
            &new_org("x@example.org"),
        )
        .await;
    let list = app.get_as(&admin, "/api/admin/organizations").await;

    assert_eq!(create.status, StatusCode::FORBIDDEN);
    assert_eq!(list.status, StatusCode::FORBIDDEN);
    let denials = app
        .audit_events(admin.organization_id)
        .await
        .into_iter()
        .filter(|(action, outcome, _)| action == "ACCESS_DENIED" && outcome == "denied")
        .count();
    assert_eq!(denials, 2);
    assert_eq!(
        app.get("/api/admin/organizations").await.status,
        StatusCode::UNAUTHORIZED
    );
}
