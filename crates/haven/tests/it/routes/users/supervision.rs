//! `PUT /api/users/{id}/supervision`.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::notes::{note_clinic, text};

async fn active_assignments(app: &TestApp, supervisee: haven::ids::UserId) -> i64 {
    let owner = app.db().owner_pool().await;
    sqlx::query_scalar(
        "SELECT count(*) FROM supervision_assignments WHERE supervisee_id = $1 AND upper_inf(active)",
    )
    .bind(supervisee)
    .fetch_one(&owner)
    .await
    .expect("count")
}

#[tokio::test]
async fn an_admin_assigns_replaces_and_ends_a_supervision_one_at_a_time() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let path = format!("/api/users/{}/supervision", c.author.id);

    let first = app
        .json_as(
            &c.admin,
            Method::PUT,
            &path,
            &json!({ "supervisorId": c.supervisor.id, "requiresCosign": true }),
        )
        .await;
    let second = app
        .json_as(
            &c.admin,
            Method::PUT,
            &path,
            &json!({ "supervisorId": c.outsider.id, "requiresCosign": true, "cosignDueDays": 5 }),
        )
        .await;

    assert_eq!(first.status, StatusCode::OK, "{}", text(&first));
    assert_eq!(
        second.json()["supervision"]["supervisorId"],
        c.outsider.id.to_string()
    );
    assert_eq!(second.json()["supervision"]["cosignDueDays"], 5);
    assert_eq!(active_assignments(&app, c.author.id).await, 1);
    let ended = app
        .json_as(
            &c.admin,
            Method::PUT,
            &path,
            &json!({ "supervisorId": null }),
        )
        .await;
    assert_eq!(ended.status, StatusCode::OK);
    assert_eq!(ended.json()["supervision"], json!(null));
    assert_eq!(active_assignments(&app, c.author.id).await, 0);
    assert!(
        app.audited(c.admin.organization_id, "SUPERVISION_SET")
            .await
    );
}

#[tokio::test]
async fn the_database_keeps_one_active_supervisor_per_supervisee() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let owner = app.db().owner_pool().await;
    let insert = "INSERT INTO supervision_assignments (organization_id, id, supervisee_id, supervisor_id, \
                  requires_cosign, active) VALUES ($1, gen_random_uuid(), $2, $3, true, tstzrange(now(), NULL))";
    sqlx::query(insert)
        .bind(c.admin.organization_id)
        .bind(c.author.id)
        .bind(c.supervisor.id)
        .execute(&owner)
        .await
        .expect("first");

    let second = sqlx::query(insert)
        .bind(c.admin.organization_id)
        .bind(c.author.id)
        .bind(c.outsider.id)
        .execute(&owner)
        .await;

    let error = second.expect_err("a second active supervisor");
    assert_eq!(
        error.as_database_error().and_then(|e| e.constraint()),
        Some("supervision_one_active")
    );
}

#[tokio::test]
async fn bad_assignments_are_400_and_roles_other_than_admin_403() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let path = format!("/api/users/{}/supervision", c.author.id);
    for (field, body) in [
        ("supervisorId", json!({ "supervisorId": c.author.id })),
        ("supervisorId", json!({ "supervisorId": c.billing.id })),
        (
            "cosignDueDays",
            json!({ "supervisorId": c.supervisor.id, "cosignDueDays": 0 }),
        ),
    ] {
        let response = app.json_as(&c.admin, Method::PUT, &path, &body).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{}",
            text(&response)
        );
        assert!(
            response.json()["details"].get(field).is_some(),
            "{}",
            text(&response)
        );
    }
    let body = json!({ "supervisorId": c.supervisor.id });
    for user in [
        &c.author,
        &c.supervisor,
        &c.billing,
        &c.scheduler,
        &c.compliance,
    ] {
        assert_eq!(
            app.json_as(user, Method::PUT, &path, &body).await.status,
            StatusCode::FORBIDDEN,
            "{:?}",
            user.role
        );
    }
    assert_eq!(active_assignments(&app, c.author.id).await, 0);
}

#[tokio::test]
async fn another_practices_clinician_is_a_404_audited() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let other = app.org_with("Practice B", Role::Admin).await;

    let response = app
        .json_as(
            &other,
            Method::PUT,
            &format!("/api/users/{}/supervision", c.author.id),
            &json!({ "supervisorId": null }),
        )
        .await;

    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(other.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
}
