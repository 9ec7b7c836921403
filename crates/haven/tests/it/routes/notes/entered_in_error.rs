//! `POST /api/notes/{id}/entered-in-error`.

use axum::http::{Method, StatusCode};
use haven_testkit::{TestApp, TestResponse, TestUser};
use serde_json::json;

use crate::fixtures::notes::{audited_note, note_clinic, signed, text};

async fn mark(app: &TestApp, user: &TestUser, id: &str, reason: &str) -> TestResponse {
    app.json_as(
        user,
        Method::POST,
        &format!("/api/notes/{id}/entered-in-error"),
        &json!({ "reason": reason }),
    )
    .await
}

#[tokio::test]
async fn an_admin_marks_a_signed_note_entered_in_error_and_it_is_kept() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;

    let response = mark(&app, &c.admin, &id, "Written in the wrong chart.").await;

    assert_eq!(response.status, StatusCode::OK, "{}", text(&response));
    assert_eq!(response.json()["note"]["status"], "ENTERED_IN_ERROR");
    let read = app
        .get_as(&c.author, &format!("/api/notes/{id}"))
        .await
        .json();
    assert_eq!(
        read["note"]["enteredInErrorReason"],
        "Written in the wrong chart."
    );
    assert_eq!(read["note"]["sections"]["plan"], "Continue weekly.");
    assert_eq!(read["note"]["signatures"][0]["valid"], true);
    assert_eq!(
        audited_note(&app, &c.admin, "NOTE_ENTERED_IN_ERROR", &id).await,
        1
    );
    let again = mark(&app, &c.admin, &id, "Again.").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "INVALID_STATE");
}

#[tokio::test]
async fn only_an_admin_marks_and_a_reason_is_required() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let b = note_clinic(&app, "Practice B").await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;

    let empty = mark(&app, &c.admin, &id, "  ").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.json()["details"].get("reason").is_some());
    for user in [
        &c.author,
        &c.colleague,
        &c.billing,
        &c.scheduler,
        &c.compliance,
    ] {
        assert_eq!(
            mark(&app, user, &id, "reason").await.status,
            StatusCode::FORBIDDEN,
            "{:?}",
            user.role
        );
    }
    assert_eq!(
        mark(&app, &b.admin, &id, "reason").await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        app.audited(b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
    let read = app
        .get_as(&c.author, &format!("/api/notes/{id}"))
        .await
        .json();
    assert_eq!(read["note"]["status"], "SIGNED");
}
