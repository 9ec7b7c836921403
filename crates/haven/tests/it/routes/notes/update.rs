//! `PATCH /api/notes/{id}`.

use axum::http::{Method, StatusCode};
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::notes::{audited_note, note_clinic, signed, soap, text, written};

#[tokio::test]
async fn the_author_edits_a_draft_to_its_next_version() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;

    let patched = app
        .json_as(
            &c.author,
            Method::PATCH,
            &format!("/api/notes/{id}"),
            &json!({ "sections": { "plan": "Twice weekly." }, "diagnosisCodes": ["f41.1"], "expectedVersion": 1 }),
        )
        .await;

    assert_eq!(patched.status, StatusCode::OK, "{}", text(&patched));
    assert_eq!(patched.json()["note"]["version"], 2);
    let read = app
        .get_as(&c.author, &format!("/api/notes/{id}"))
        .await
        .json();
    assert_eq!(read["note"]["sections"]["plan"], "Twice weekly.");
    assert_eq!(
        read["note"]["sections"]["subjective"],
        "Reports better sleep."
    );
    assert_eq!(read["note"]["diagnosisCodes"], json!(["F41.1"]));
    assert_eq!(audited_note(&app, &c.admin, "NOTE_UPDATE", &id).await, 1);
}

#[tokio::test]
async fn a_stale_expected_version_is_a_conflict_and_changes_nothing() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    let edit =
        |v: i64| json!({ "sections": { "plan": format!("edit {v}") }, "expectedVersion": v });
    let first = app
        .json_as(
            &c.author,
            Method::PATCH,
            &format!("/api/notes/{id}"),
            &edit(1),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);

    let stale = app
        .json_as(
            &c.author,
            Method::PATCH,
            &format!("/api/notes/{id}"),
            &edit(1),
        )
        .await;

    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.error_code(), "CONFLICT");
    let read = app
        .get_as(&c.author, &format!("/api/notes/{id}"))
        .await
        .json();
    assert_eq!(read["note"]["version"], 2);
    assert_eq!(read["note"]["sections"]["plan"], "edit 1");
}

#[tokio::test]
async fn editing_a_signed_note_is_note_locked() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;

    let response = app
        .json_as(
            &c.author,
            Method::PATCH,
            &format!("/api/notes/{id}"),
            &json!({ "sections": { "plan": "rewritten" }, "expectedVersion": 1 }),
        )
        .await;

    assert_eq!(response.status, StatusCode::CONFLICT);
    assert_eq!(response.error_code(), "NOTE_LOCKED");
    let read = app
        .get_as(&c.author, &format!("/api/notes/{id}"))
        .await
        .json();
    assert_eq!(read["note"]["sections"]["plan"], "Continue weekly.");
}

#[tokio::test]
async fn bad_edits_name_the_field_and_change_nothing() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    for (field, body) in [
        (
            "sections.response",
            json!({ "sections": { "response": "BIRP only" }, "expectedVersion": 1 }),
        ),
        (
            "diagnosisCodes",
            json!({ "diagnosisCodes": ["999"], "expectedVersion": 1 }),
        ),
        ("sections", json!({ "expectedVersion": 1 })),
    ] {
        let response = app
            .json_as(&c.author, Method::PATCH, &format!("/api/notes/{id}"), &body)
            .await;

        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{field}");
        assert!(
            response.json()["details"].get(field).is_some(),
            "{}",
            text(&response)
        );
    }
    let read = app
        .get_as(&c.author, &format!("/api/notes/{id}"))
        .await
        .json();
    assert_eq!(read["note"]["version"], 1);
}

#[tokio::test]
async fn only_the_author_edits() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    let body = json!({ "sections": { "plan": "x" }, "expectedVersion": 1 });

    let colleague = app
        .json_as(
            &c.colleague,
            Method::PATCH,
            &format!("/api/notes/{id}"),
            &body,
        )
        .await;
    let admin = app
        .json_as(&c.admin, Method::PATCH, &format!("/api/notes/{id}"), &body)
        .await;
    let billing = app
        .json_as(
            &c.billing,
            Method::PATCH,
            &format!("/api/notes/{id}"),
            &body,
        )
        .await;
    let scheduler = app
        .json_as(
            &c.scheduler,
            Method::PATCH,
            &format!("/api/notes/{id}"),
            &body,
        )
        .await;

    assert_eq!(colleague.status, StatusCode::FORBIDDEN);
    assert_eq!(admin.status, StatusCode::FORBIDDEN);
    assert_eq!(billing.status, StatusCode::FORBIDDEN);
    assert_eq!(scheduler.status, StatusCode::FORBIDDEN);
    assert!(app.audited(c.admin.organization_id, "ACCESS_DENIED").await);
}

#[tokio::test]
async fn another_practice_cannot_edit_the_note() {
    let app = TestApp::new().await;
    let a = note_clinic(&app, "Practice A").await;
    let b = note_clinic(&app, "Practice B").await;
    let id = written(&app, &a.author, &soap(&a.patient, "PROGRESS")).await;

    let response = app
        .json_as(
            &b.author,
            Method::PATCH,
            &format!("/api/notes/{id}"),
            &json!({ "sections": { "plan": "x" }, "expectedVersion": 1 }),
        )
        .await;

    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
}
