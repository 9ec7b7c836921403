//! `POST /api/admin/organizations`: a practice with its first admin; unique emails; bad input.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven::ids::OrganizationId;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::organizations::new_org;

#[tokio::test]
async fn a_platform_operator_creates_a_practice_with_its_first_admin() {
    let app = TestApp::new().await;
    let operator = app
        .user_in(OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;

    let response = app
        .json_as(
            &operator,
            Method::POST,
            "/api/admin/organizations",
            &new_org("dana@sunrise.example.org"),
        )
        .await;

    assert_eq!(response.status, StatusCode::CREATED);
    let body = response.json();
    assert_eq!(body["organization"]["name"], "Sunrise ABA");
    assert!(body["organization"]["createdAt"].is_string());
    assert_eq!(body["admin"]["email"], "dana@sunrise.example.org");
    assert_eq!(body["admin"]["role"], "ADMIN");
    let org: OrganizationId =
        serde_json::from_value(body["organization"]["id"].clone()).expect("id");
    assert!(app.audited(org, "ORGANIZATION_CREATE").await);
    assert!(app.audited(org, "USER_CREATE").await);
    assert!(
        app.audited(OrganizationId::PLATFORM, "ORGANIZATION_CREATE")
            .await
    );
    let login = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": "dana@sunrise.example.org", "password": "a sturdy practice passphrase 9" }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.json()["user"]["organizationId"], json!(org));

    let list = app
        .get_as(&operator, "/api/admin/organizations?page=1&limit=10")
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let list = list.json();
    assert_eq!(
        list["pagination"],
        json!({ "page": 1, "limit": 10, "total": 1, "totalPages": 1 })
    );
    assert_eq!(list["organizations"][0]["id"], json!(org));
}

#[tokio::test]
async fn emails_are_unique_across_the_platform() {
    let app = TestApp::new().await;
    let operator = app
        .user_in(OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;
    let first = app
        .json_as(
            &operator,
            Method::POST,
            "/api/admin/organizations",
            &new_org("taken@example.org"),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);

    let second = app
        .json_as(
            &operator,
            Method::POST,
            "/api/admin/organizations",
            &new_org("TAKEN@example.org"),
        )
        .await;

    assert_eq!(second.status, StatusCode::CONFLICT);
    assert_eq!(second.error_code(), "CONFLICT");
}

#[tokio::test]
async fn invalid_organizations_are_refused_field_by_field() {
    let app = TestApp::new().await;
    let operator = app
        .user_in(OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;
    let mut bad = new_org("not-an-email");
    bad["name"] = json!("   ");
    bad["adminFirstName"] = json!("x".repeat(101));

    let response = app
        .json_as(&operator, Method::POST, "/api/admin/organizations", &bad)
        .await;

    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let details = &response.json()["details"];
    for field in ["name", "adminEmail", "adminFirstName"] {
        assert!(details[field].is_string(), "{field}: {details}");
    }
    let mut weak = new_org("weak@example.org");
    weak["adminPassword"] = json!("Reyes12345678");
    let response = app
        .json_as(&operator, Method::POST, "/api/admin/organizations", &weak)
        .await;
    assert!(response.json()["details"]["adminPassword"].is_string());
    let mut extra = new_org("extra@example.org");
    extra["plan"] = json!("gold");
    let response = app
        .json_as(&operator, Method::POST, "/api/admin/organizations", &extra)
        .await;
    assert_eq!(response.json()["details"]["plan"], "is not a known field");
    let big_limit = app
        .get_as(&operator, "/api/admin/organizations?limit=101")
        .await;
    assert_eq!(big_limit.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_created_organization_keeps_its_shape() {
    let app = TestApp::new().await;
    let operator = app
        .user_in(OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;

    let created = app
        .json_as(
            &operator,
            Method::POST,
            "/api/admin/organizations",
            &new_org("dana@sunrise.example.org"),
        )
        .await;

    assert_eq!(created.status, StatusCode::CREATED);
    insta::assert_json_snapshot!(created.json(), {
        ".organization.id" => "[id]",
        ".organization.createdAt" => "[timestamp]",
        ".organization.updatedAt" => "[timestamp]",
        ".admin.id" => "[id]",
        ".admin.organizationId" => "[id]",
        ".admin.createdAt" => "[timestamp]",
        ".admin.updatedAt" => "[timestamp]",
    });
}
