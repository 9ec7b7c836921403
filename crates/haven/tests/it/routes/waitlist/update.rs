//! `PATCH /api/waitlist/{id}` and `DELETE /api/waitlist/{id}`.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::{TestApp, TestResponse, TestUser};
use serde_json::{Value, json};

use super::{MONDAY_NINE, added, offered, owner_exec, owner_scalar, waitlist_clinic};
use crate::fixtures::scheduling::text;
use crate::fixtures::units::audited;

async fn patch(app: &TestApp, user: &TestUser, entry: &Value, body: Value) -> TestResponse {
    let id = entry["id"].as_str().expect("id");
    app.json_as(user, Method::PATCH, &format!("/api/waitlist/{id}"), &body)
        .await
}

async fn delete(app: &TestApp, user: &TestUser, entry: &Value) -> TestResponse {
    let id = entry["id"].as_str().expect("id");
    app.json_as(
        user,
        Method::DELETE,
        &format!("/api/waitlist/{id}"),
        &json!(null),
    )
    .await
}

#[tokio::test]
async fn patching_changes_the_preferences_renews_90_days_and_audits_field_names_only() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let entry = added(&app, &c.admin, &c.patient, json!({ "notes": "old note" })).await;
    let id = entry["id"].as_str().expect("id");
    owner_exec(
        &app,
        "UPDATE waitlist_entries SET expires_at = now() + interval '2 days' WHERE id = $1::uuid",
        id,
    )
    .await;

    let response = patch(
        &app,
        &c.scheduler,
        &entry,
        json!({
            "preferredDays": ["TU"],
            "priority": "URGENT",
            "notes": "new secret note",
            "renew": true,
        }),
    )
    .await;

    assert_eq!(response.status, StatusCode::OK, "{}", text(&response));
    let changed = &response.json()["waitlistEntry"];
    assert_eq!(changed["preferredDays"], json!(["TU"]));
    assert_eq!(changed["priority"], "URGENT");
    assert_eq!(changed["notes"], "new secret note");
    assert_eq!(changed["version"], 2);
    let days: f64 = owner_scalar(
        &app,
        "SELECT (extract(epoch FROM expires_at - now()) / 86400)::float8 FROM waitlist_entries WHERE id = $1::uuid",
        id,
    )
    .await;
    assert!(days > 89.9, "{days}");
    let events = audited(&app, c.admin.organization_id, "WAITLIST_UPDATE").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["changed"],
        json!(["preferredDays", "priority", "notes", "renew"])
    );
    assert!(!events[0].to_string().contains("secret"));
}

#[tokio::test]
async fn bad_changes_are_400_and_change_nothing() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;

    let windows = patch(
        &app,
        &c.admin,
        &entry,
        json!({ "preferredWindows": [{ "start": "17:00", "end": "16:00" }] }),
    )
    .await;
    let days = patch(
        &app,
        &c.admin,
        &entry,
        json!({ "preferredDays": ["FUNDAY"] }),
    )
    .await;
    let empty = patch(&app, &c.admin, &entry, json!({ "unknown": 1 })).await;

    assert_eq!(windows.status, StatusCode::BAD_REQUEST);
    assert!(windows.json()["details"]["preferredWindows[0].end"].is_string());
    assert_eq!(days.status, StatusCode::BAD_REQUEST);
    assert!(days.json()["details"]["preferredDays"].is_string());
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let version: i32 = owner_scalar(
        &app,
        "SELECT version FROM waitlist_entries WHERE id = $1::uuid",
        entry["id"].as_str().expect("id"),
    )
    .await;
    assert_eq!(version, 1);
}

#[tokio::test]
async fn an_expired_entry_cannot_be_changed() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;
    owner_exec(
        &app,
        "UPDATE waitlist_entries SET expires_at = now() - interval '1 minute' WHERE id = $1::uuid",
        entry["id"].as_str().expect("id"),
    )
    .await;

    let response = patch(&app, &c.admin, &entry, json!({ "renew": true })).await;

    assert_eq!(response.status, StatusCode::CONFLICT);
    assert_eq!(response.error_code(), "INVALID_STATE");
}

#[tokio::test]
async fn billing_is_403_and_another_practice_gets_404_audited_on_patch_and_delete() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;
    let billing = app.user_in(c.admin.organization_id, Role::Billing).await;
    let other = app.org_with("Practice B", Role::Admin).await;

    let by_billing = patch(&app, &billing, &entry, json!({ "priority": "URGENT" })).await;
    let billing_delete = delete(&app, &billing, &entry).await;
    let by_other = patch(&app, &other, &entry, json!({ "priority": "URGENT" })).await;
    let other_delete = delete(&app, &other, &entry).await;

    assert_eq!(by_billing.status, StatusCode::FORBIDDEN);
    assert_eq!(billing_delete.status, StatusCode::FORBIDDEN);
    assert_eq!(by_other.status, StatusCode::NOT_FOUND);
    assert_eq!(other_delete.status, StatusCode::NOT_FOUND);
    assert_eq!(
        audited(&app, other.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
            .len(),
        2
    );
    let (priority, status): (String, String) = {
        let owner = app.db().owner_pool().await;
        let row =
            sqlx::query_as("SELECT priority, status FROM waitlist_entries WHERE id = $1::uuid")
                .bind(entry["id"].as_str().expect("id"))
                .fetch_one(&owner)
                .await
                .expect("row");
        owner.close().await;
        row
    };
    assert_eq!((priority.as_str(), status.as_str()), ("ROUTINE", "ACTIVE"));
}

#[tokio::test]
async fn deleting_removes_once_and_waits_for_a_pending_offer() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;
    let second = crate::fixtures::units::patient(&app, &c.admin, "MRN-TWO").await;
    let offered_entry = added(&app, &c.admin, &second, json!({})).await;
    offered(
        &app,
        &c.scheduler,
        &offered_entry,
        &c.clinician,
        MONDAY_NINE,
    )
    .await;

    let removed = delete(&app, &c.scheduler, &entry).await;
    let again = delete(&app, &c.scheduler, &entry).await;
    let with_offer = delete(&app, &c.scheduler, &offered_entry).await;

    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", text(&removed));
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "INVALID_STATE");
    assert_eq!(with_offer.status, StatusCode::CONFLICT);
    let status: String = owner_scalar(
        &app,
        "SELECT status FROM waitlist_entries WHERE id = $1::uuid",
        entry["id"].as_str().expect("id"),
    )
    .await;
    assert_eq!(status, "REMOVED");
    assert_eq!(
        audited(&app, c.admin.organization_id, "WAITLIST_REMOVE")
            .await
            .len(),
        1
    );
}
