//! `PATCH` and `DELETE /api/patients/{id}`: changed fields audited, soft deletes.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::patients::{audited_for, create_id, patient_ids_audited};

#[tokio::test]
async fn updates_and_soft_deletes_are_audited() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let id = create_id(&app, &admin, "U-1", "Before").await;

    let updated = app
        .json_as(
            &admin,
            Method::PATCH,
            &format!("/api/patients/{id}"),
            &json!({ "lastName": "After", "email": null }),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    let body = updated.json()["patient"].clone();
    assert_eq!(
        (body["lastName"].as_str(), body["email"].is_null()),
        (Some("After"), true)
    );
    assert_eq!(
        app.get_as(&admin, "/api/patients?lastName=after")
            .await
            .json()["pagination"]["total"],
        1
    );
    let fields = audited_for(&app, admin.organization_id, "PATIENT_UPDATE").await;
    assert_eq!(fields, vec![json!({ "fields": ["lastName", "email"] })]);

    let deleted = app
        .json_as(
            &admin,
            Method::DELETE,
            &format!("/api/patients/{id}"),
            &json!(null),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_as(&admin, &format!("/api/patients/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get_as(&admin, "/api/patients").await.json()["pagination"]["total"],
        0
    );
    assert_eq!(
        patient_ids_audited(&app, admin.organization_id, "PATIENT_DELETE").await,
        vec![id]
    );
}
