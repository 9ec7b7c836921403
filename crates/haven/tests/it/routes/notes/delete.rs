//! `DELETE /api/notes/{id}`.

use axum::http::{Method, StatusCode};
use haven_testkit::{TestApp, TestResponse, TestUser};

use crate::fixtures::notes::{audited_note, note_clinic, signed, soap, written};

async fn delete(app: &TestApp, user: &TestUser, id: &str) -> TestResponse {
    app.json_as(
        user,
        Method::DELETE,
        &format!("/api/notes/{id}"),
        &serde_json::json!(null),
    )
    .await
}

#[tokio::test]
async fn the_author_or_an_admin_deletes_a_draft() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let mine = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    let theirs = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;

    let by_author = delete(&app, &c.author, &mine).await;
    let by_admin = delete(&app, &c.admin, &theirs).await;

    assert_eq!(by_author.status, StatusCode::NO_CONTENT);
    assert_eq!(by_admin.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_as(&c.author, &format!("/api/notes/{mine}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(audited_note(&app, &c.admin, "NOTE_DELETE", &mine).await, 1);
}

#[tokio::test]
async fn a_signed_note_is_never_deleted() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;

    let response = delete(&app, &c.admin, &id).await;

    assert_eq!(response.status, StatusCode::CONFLICT);
    assert_eq!(response.error_code(), "NOTE_LOCKED");
    assert_eq!(
        app.get_as(&c.author, &format!("/api/notes/{id}"))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn others_cannot_delete_a_draft() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let b = note_clinic(&app, "Practice B").await;
    let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;

    assert_eq!(
        delete(&app, &c.colleague, &id).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete(&app, &c.billing, &id).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete(&app, &c.scheduler, &id).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete(&app, &c.compliance, &id).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete(&app, &b.admin, &id).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        app.audited(b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
    assert_eq!(
        app.get_as(&c.author, &format!("/api/notes/{id}"))
            .await
            .status,
        StatusCode::OK
    );
}
