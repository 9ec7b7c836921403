//! The database locks signed notes for every role, the owner included: content, codes and
//! versions never change, signatures and addenda are append-only, and only drafts are deleted.

use haven_testkit::TestApp;

use crate::fixtures::notes::{note_clinic, owner_statement, signed, soap, written};

const LOCKED: &str = "HN001";

#[tokio::test]
async fn the_owner_cannot_change_or_delete_a_signed_note() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;
    let attempts = [
        "UPDATE notes SET diagnosis_codes = '{F41.1}' WHERE id = $1::uuid",
        "UPDATE notes SET version = version + 1 WHERE id = $1::uuid",
        "UPDATE notes SET status = 'DRAFT' WHERE id = $1::uuid",
        "UPDATE notes SET note_type = 'INTAKE' WHERE id = $1::uuid",
        "DELETE FROM notes WHERE id = $1::uuid",
        "UPDATE note_versions SET sections = '\\x00' WHERE note_id = $1::uuid",
        "DELETE FROM note_versions WHERE note_id = $1::uuid",
        "INSERT INTO note_versions (organization_id, note_id, version, sections, diagnosis_codes, created_by) \
         SELECT organization_id, id, version + 1, '\\x00', '{}', author_id FROM notes WHERE id = $1::uuid",
        "UPDATE note_signatures SET hmac = hmac WHERE note_id = $1::uuid",
        "DELETE FROM note_signatures WHERE note_id = $1::uuid",
    ];
    for sql in attempts {
        assert_eq!(
            owner_statement(&app, sql, &id).await.as_deref(),
            Some(LOCKED),
            "{sql}"
        );
    }
    // Still as signed, and its signature still verifies.
    let read = app
        .get_as(&c.author, &format!("/api/notes/{id}"))
        .await
        .json();
    assert_eq!(read["note"]["status"], "SIGNED");
    assert_eq!(read["note"]["signatures"][0]["valid"], true);
    // What a signed note may still do: be marked entered in error.
    assert_eq!(
        owner_statement(
            &app,
            "UPDATE notes SET status = 'ENTERED_IN_ERROR', entered_in_error_at = now() WHERE id = $1::uuid",
            &id
        )
        .await,
        None
    );
    assert_eq!(
        owner_statement(
            &app,
            "UPDATE notes SET status = 'SIGNED', entered_in_error_at = NULL WHERE id = $1::uuid",
            &id
        )
        .await
        .as_deref(),
        Some(LOCKED)
    );
}

#[tokio::test]
async fn the_owner_may_delete_a_draft_and_addenda_stay_append_only() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let draft = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    assert_eq!(
        owner_statement(
            &app,
            "UPDATE notes SET diagnosis_codes = '{F41.1}' WHERE id = $1::uuid",
            &draft
        )
        .await,
        None,
        "a draft's codes may change"
    );
    assert_eq!(
        owner_statement(&app, "DELETE FROM notes WHERE id = $1::uuid", &draft).await,
        None
    );
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;
    let added = app
        .json_as(
            &c.author,
            axum::http::Method::POST,
            &format!("/api/notes/{id}/addenda"),
            &serde_json::json!({ "kind": "ADDENDUM", "reason": "r", "text": "t", "password": haven_testkit::PASSWORD }),
        )
        .await;
    assert_eq!(added.status, axum::http::StatusCode::CREATED);
    for sql in [
        "UPDATE note_addenda SET kind = 'CORRECTION' WHERE note_id = $1::uuid",
        "DELETE FROM note_addenda WHERE note_id = $1::uuid",
    ] {
        assert_eq!(
            owner_statement(&app, sql, &id).await.as_deref(),
            Some(LOCKED),
            "{sql}"
        );
    }
    let owner = app.db().owner_pool().await;
    let truncated = sqlx::query("TRUNCATE note_addenda").execute(&owner).await;
    assert_eq!(
        truncated
            .err()
            .and_then(|e| e
                .as_database_error()
                .and_then(|d| d.code())
                .map(|c| c.into_owned()))
            .as_deref(),
        Some(LOCKED)
    );
}

#[tokio::test]
async fn malformed_codes_and_unknown_kinds_are_refused_by_check_constraints() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let draft = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    for sql in [
        "UPDATE notes SET diagnosis_codes = '{F84-0}' WHERE id = $1::uuid",
        "UPDATE notes SET status = 'ARCHIVED' WHERE id = $1::uuid",
    ] {
        assert_eq!(
            owner_statement(&app, sql, &draft).await.as_deref(),
            Some("23514"),
            "{sql}"
        );
    }
}
