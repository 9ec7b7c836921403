//! `/api/users` (ADMIN): create, list, get, update; roles; other tenants.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::{TestApp, TestUser};
use serde_json::{Value, json};

fn new_user(email: &str, role: &str) -> Value {
    json!({
        "email": email,
        "password": "quiet river orchard 1987",
        "role": role,
        "firstName": "Sam",
        "lastName": "Okafor",
    })
}

async fn create(
    app: &TestApp,
    admin: &TestUser,
    email: &str,
    role: &str,
) -> haven_testkit::TestResponse {
    app.json_as(admin, Method::POST, "/api/users", &new_user(email, role))
        .await
}

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

#[tokio::test]
async fn role_changes_are_audited_and_nobody_changes_their_own() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let sam = create(&app, &admin, "sam@a.example.org", "CLINICIAN")
        .await
        .json()["user"]
        .clone();
    let path = format!("/api/users/{}", sam["id"].as_str().expect("id"));

    let promoted = app
        .json_as(&admin, Method::PATCH, &path, &json!({ "role": "BILLING" }))
        .await;
    assert_eq!(promoted.status, StatusCode::OK);
    assert_eq!(promoted.json()["user"]["role"], "BILLING");

    let own = app
        .json_as(
            &admin,
            Method::PATCH,
            &format!("/api/users/{}", admin.id),
            &json!({ "role": "CLINICIAN" }),
        )
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN);
    let to_super = app
        .json_as(
            &admin,
            Method::PATCH,
            &path,
            &json!({ "role": "SUPER_ADMIN" }),
        )
        .await;
    assert_eq!(to_super.status, StatusCode::FORBIDDEN);
    let make_super = create(&app, &admin, "root@a.example.org", "SUPER_ADMIN").await;
    assert_eq!(make_super.status, StatusCode::FORBIDDEN);

    let events = app.audit_events(admin.organization_id).await;
    let role_change = events
        .iter()
        .find(|(a, _, _)| a == "ROLE_CHANGE")
        .expect("ROLE_CHANGE");
    assert_eq!(
        role_change.2,
        json!({ "from": "CLINICIAN", "to": "BILLING" })
    );
    let escalations = events
        .iter()
        .filter(|(a, _, _)| a == "ROLE_ESCALATION_ATTEMPT")
        .count();
    assert_eq!(escalations, 3);
}

#[tokio::test]
async fn a_disabled_user_loses_their_sessions_and_cannot_log_in() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;

    let response = app
        .json_as(
            &admin,
            Method::PATCH,
            &format!("/api/users/{}", clinician.id),
            &json!({ "disabled": true }),
        )
        .await;

    assert_eq!(response.status, StatusCode::OK);
    let refresh = app
        .json(
            Method::POST,
            "/api/auth/refresh",
            &json!({ "refreshToken": clinician.refresh_token }),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    let login = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": clinician.email, "password": haven_testkit::PASSWORD }),
        )
        .await;
    assert_eq!(login.error_code(), "INVALID_CREDENTIALS");
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
