//! `POST /api/users` (and reading and listing the result): bad input, operators acting in a
//! practice.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::users::{create, new_user};

#[tokio::test]
async fn an_admin_creates_lists_and_reads_users_of_their_organization() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;

    let created = create(&app, &admin, "sam@a.example.org", "CLINICIAN").await;

    assert_eq!(created.status, StatusCode::CREATED);
    let user = created.json()["user"].clone();
    assert_eq!(user["role"], "CLINICIAN");
    assert_eq!(user["organizationId"], json!(admin.organization_id));
    let id = user["id"].as_str().expect("id");
    let fetched = app.get_as(&admin, &format!("/api/users/{id}")).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.json()["user"]["email"], "sam@a.example.org");
    let list = app.get_as(&admin, "/api/users?limit=1&page=2").await.json();
    assert_eq!(
        list["pagination"],
        json!({ "page": 2, "limit": 1, "total": 2, "totalPages": 2 })
    );
    assert_eq!(list["users"].as_array().expect("users").len(), 1);
    assert!(app.audited(admin.organization_id, "USER_CREATE").await);
}

#[tokio::test]
async fn bad_user_input_is_refused_with_details() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;

    let bad_role = create(&app, &admin, "a@example.org", "WIZARD").await;
    assert_eq!(bad_role.status, StatusCode::BAD_REQUEST);
    let weak = app
        .json_as(
            &admin,
            Method::POST,
            "/api/users",
            &json!({
                "email": "okafor@example.org", "password": "Okafor2024!!", "role": "BILLING",
                "firstName": "Sam", "lastName": "Okafor",
            }),
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.json()["details"]["password"].is_string());
    let bad_id = app.get_as(&admin, "/api/users/not-a-uuid").await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
    let unknown = app
        .get_as(&admin, &format!("/api/users/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let empty_name = app
        .json_as(
            &admin,
            Method::PATCH,
            &format!("/api/users/{}", admin.id),
            &json!({ "firstName": "" }),
        )
        .await;
    assert_eq!(
        empty_name.json()["details"]["firstName"],
        "must not be empty"
    );
    let dup = create(&app, &admin, &admin.email, "BILLING").await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn an_operator_acting_in_a_practice_cannot_put_a_super_admin_there() {
    let app = TestApp::new().await;
    let admin = app.org_with("Operated Practice", Role::Admin).await;
    let operator = app.user_in(admin.organization_id, Role::SuperAdmin).await;
    let in_practice = |role: &str| {
        let mut request = haven_testkit::json_request(
            Method::POST,
            "/api/users",
            &new_user(&format!("{}@ops.example.org", role.to_lowercase()), role),
            Some(&operator.token),
        );
        request.headers_mut().insert(
            "x-haven-organization",
            admin.organization_id.to_string().parse().expect("header"),
        );
        request
    };

    let refused = app.send(in_practice("SUPER_ADMIN")).await;
    let allowed = app.send(in_practice("CLINICIAN")).await;

    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error_code(), "FORBIDDEN");
    assert!(
        app.audited(admin.organization_id, "ROLE_ESCALATION_ATTEMPT")
            .await
    );
    assert_eq!(allowed.status, StatusCode::CREATED, "{:?}", allowed.body);
    assert_eq!(allowed.json()["user"]["role"], "CLINICIAN");
}

#[tokio::test]
async fn a_created_user_keeps_its_shape() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;

    let created = create(&app, &admin, "sam@a.example.org", "CLINICIAN").await;

    assert_eq!(created.status, StatusCode::CREATED);
    insta::assert_json_snapshot!(created.json(), {
        ".user.id" => "[id]",
        ".user.organizationId" => "[id]",
        ".user.createdAt" => "[timestamp]",
        ".user.updatedAt" => "[timestamp]",
    });
}
