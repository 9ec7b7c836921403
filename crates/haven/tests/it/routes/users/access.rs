//! `/api/users`: other roles, and another organization's users.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::users::create;

#[tokio::test]
async fn other_roles_cannot_manage_users() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    for role in [Role::Clinician, Role::Billing, Role::Compliance] {
        let user = app.user_in(admin.organization_id, role).await;

        let create = create(&app, &user, &format!("x-{role}@example.org"), "CLINICIAN").await;
        let list = app.get_as(&user, "/api/users").await;
        let get = app.get_as(&user, &format!("/api/users/{}", admin.id)).await;
        let patch = app
            .json_as(
                &user,
                Method::PATCH,
                &format!("/api/users/{}", admin.id),
                &json!({ "firstName": "X" }),
            )
            .await;

        for response in [create, list, get, patch] {
            assert_eq!(response.status, StatusCode::FORBIDDEN, "{role}");
            assert_eq!(response.error_code(), "FORBIDDEN");
        }
    }
    let denied = app
        .audit_events(admin.organization_id)
        .await
        .into_iter()
        .filter(|(action, _, _)| action == "ACCESS_DENIED")
        .count();
    assert_eq!(denied, 12);
}

#[tokio::test]
async fn another_organizations_user_is_not_found_and_the_attempt_audited() {
    let app = TestApp::new().await;
    let admin_a = app.org_with("Practice A", Role::Admin).await;
    let admin_b = app.org_with("Practice B", Role::Admin).await;
    let path = format!("/api/users/{}", admin_a.id);

    let get = app.get_as(&admin_b, &path).await;
    let patch = app
        .json_as(
            &admin_b,
            Method::PATCH,
            &path,
            &json!({ "role": "BILLING" }),
        )
        .await;

    for response in [&get, &patch] {
        assert_eq!(response.status, StatusCode::NOT_FOUND);
        assert_eq!(response.error_code(), "NOT_FOUND");
    }
    let attempts: Vec<Value> = app
        .audit_events(admin_b.organization_id)
        .await
        .into_iter()
        .filter(|(action, _, _)| action == "CROSS_TENANT_ACCESS_ATTEMPT")
        .map(|(_, _, details)| details)
        .collect();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        attempts[0]["targetOrganizationId"],
        json!(admin_a.organization_id)
    );
    assert_eq!(
        attempts[0]["callerOrganizationId"],
        json!(admin_b.organization_id)
    );
    // Untouched.
    let still = app.get_as(&admin_a, &path).await.json();
    assert_eq!(still["user"]["role"], "ADMIN");
    // And B's list shows only B.
    let list = app.get_as(&admin_b, "/api/users").await.json();
    assert_eq!(list["pagination"]["total"], 1);
}
