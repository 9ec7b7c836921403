//! `/api/audit-logs`: ADMIN and COMPLIANCE only.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;

#[tokio::test]
async fn other_roles_may_not_read_the_log() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let operator = app.user_in(admin.organization_id, Role::SuperAdmin).await;
    for role in [Role::Clinician, Role::Billing] {
        let user = app.user_in(admin.organization_id, role).await;
        for path in [
            "/api/audit-logs",
            "/api/audit-logs/verify",
            "/api/audit-logs/export",
        ] {
            assert_eq!(
                app.get_as(&user, path).await.status,
                StatusCode::FORBIDDEN,
                "{role} {path}"
            );
        }
    }
    assert_eq!(
        app.get_as(&operator, "/api/audit-logs").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/audit-logs").await.status,
        StatusCode::UNAUTHORIZED
    );
}
