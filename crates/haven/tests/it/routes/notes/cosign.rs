//! Supervision and `POST /api/notes/{id}/cosign`.

use axum::http::{Method, StatusCode};
use haven_testkit::{PASSWORD, TestApp, TestResponse, TestUser};
use serde_json::{Value, json};

use crate::fixtures::notes::{audited_note, note_clinic, sign, signed, supervise, text};

async fn cosign(app: &TestApp, user: &TestUser, id: &str, body: Value) -> TestResponse {
    let mut body = body;
    body["password"] = json!(PASSWORD);
    app.json_as(
        user,
        Method::POST,
        &format!("/api/notes/{id}/cosign"),
        &body,
    )
    .await
}

#[tokio::test]
async fn a_supervisees_signature_waits_for_the_supervisors_approval() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    supervise(&app, &c.admin, &c.author, &c.supervisor, true).await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;
    let pending = app
        .get_as(&c.author, &format!("/api/notes/{id}"))
        .await
        .json();
    assert_eq!(pending["note"]["status"], "PENDING_COSIGN");
    assert!(pending["note"]["cosignDueAt"].is_string());

    let approved = cosign(
        &app,
        &c.supervisor,
        &id,
        json!({ "decision": "APPROVE", "attestation": "Reviewed." }),
    )
    .await;

    assert_eq!(approved.status, StatusCode::OK, "{}", text(&approved));
    assert_eq!(approved.json()["note"]["status"], "SIGNED");
    assert_eq!(
        approved.json()["note"]["cosignedBy"],
        c.supervisor.id.to_string()
    );
    let read = app
        .get_as(&c.supervisor, &format!("/api/notes/{id}"))
        .await
        .json();
    let kinds: Vec<&str> = read["note"]["signatures"]
        .as_array()
        .expect("signatures")
        .iter()
        .map(|s| s["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["SIGN", "COSIGN"]);
    assert!(
        read["note"]["signatures"]
            .as_array()
            .expect("s")
            .iter()
            .all(|s| s["valid"] == true)
    );
    assert_eq!(audited_note(&app, &c.admin, "NOTE_COSIGN", &id).await, 1);
}

#[tokio::test]
async fn a_return_needs_a_comment_and_sends_the_note_back_to_draft_at_the_next_version() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    supervise(&app, &c.admin, &c.author, &c.supervisor, true).await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;

    let short = cosign(
        &app,
        &c.supervisor,
        &id,
        json!({ "decision": "RETURN", "comment": "too vague" }),
    )
    .await;
    let returned = cosign(
        &app,
        &c.supervisor,
        &id,
        json!({ "decision": "RETURN", "comment": "Please add the goals addressed." }),
    )
    .await;

    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.json()["details"].get("comment").is_some());
    assert_eq!(returned.status, StatusCode::OK, "{}", text(&returned));
    assert_eq!(returned.json()["note"]["status"], "DRAFT");
    assert_eq!(returned.json()["note"]["version"], 2);
    let read = app
        .get_as(&c.author, &format!("/api/notes/{id}"))
        .await
        .json();
    let signatures = read["note"]["signatures"]
        .as_array()
        .expect("signatures")
        .clone();
    assert_eq!(
        signatures.len(),
        2,
        "the author's signature of version 1 is kept"
    );
    assert_eq!(signatures[0]["kind"], "SIGN");
    assert_eq!(signatures[0]["version"], 1);
    assert_eq!(signatures[0]["valid"], true);
    assert_eq!(signatures[1]["kind"], "RETURN");
    assert_eq!(
        signatures[1]["statement"],
        "Please add the goals addressed."
    );
    assert_eq!(read["note"]["sections"]["plan"], "Continue weekly.");
    assert_eq!(audited_note(&app, &c.admin, "NOTE_RETURN", &id).await, 1);

    // The author edits and signs again; it waits for the supervisor once more.
    let edit = app
        .json_as(
            &c.author,
            Method::PATCH,
            &format!("/api/notes/{id}"),
            &json!({ "sections": { "plan": "Goals 1 and 2 addressed." }, "expectedVersion": 2 }),
        )
        .await;
    assert_eq!(edit.status, StatusCode::OK, "{}", text(&edit));
    let again = sign(&app, &c.author, &id).await;
    assert_eq!(again.json()["note"]["status"], "PENDING_COSIGN");
}

#[tokio::test]
async fn only_the_assigned_supervisor_co_signs_never_the_author() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    supervise(&app, &c.admin, &c.author, &c.supervisor, true).await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;
    let approve = json!({ "decision": "APPROVE" });

    let own = cosign(&app, &c.author, &id, approve.clone()).await;
    let colleague = cosign(&app, &c.colleague, &id, approve.clone()).await;
    let admin = cosign(&app, &c.admin, &id, approve.clone()).await;
    let billing = cosign(&app, &c.billing, &id, approve.clone()).await;
    let scheduler = cosign(&app, &c.scheduler, &id, approve.clone()).await;

    assert_eq!(own.status, StatusCode::FORBIDDEN);
    assert_eq!(colleague.status, StatusCode::FORBIDDEN);
    assert_eq!(admin.status, StatusCode::FORBIDDEN);
    assert_eq!(billing.status, StatusCode::FORBIDDEN);
    assert_eq!(scheduler.status, StatusCode::FORBIDDEN);
    let read = app
        .get_as(&c.author, &format!("/api/notes/{id}"))
        .await
        .json();
    assert_eq!(read["note"]["status"], "PENDING_COSIGN");
}

#[tokio::test]
async fn a_new_supervisor_takes_over_and_co_signing_a_signed_note_is_refused() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    supervise(&app, &c.admin, &c.author, &c.supervisor, true).await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;
    supervise(&app, &c.admin, &c.author, &c.outsider, true).await;

    let former = cosign(&app, &c.supervisor, &id, json!({ "decision": "APPROVE" })).await;
    let current = cosign(&app, &c.outsider, &id, json!({ "decision": "APPROVE" })).await;
    let twice = cosign(&app, &c.outsider, &id, json!({ "decision": "APPROVE" })).await;

    // Off the care team and no longer supervising: the note is not theirs to see.
    assert_eq!(former.status, StatusCode::NOT_FOUND);
    assert_eq!(current.status, StatusCode::OK, "{}", text(&current));
    assert_eq!(twice.status, StatusCode::CONFLICT);
    assert_eq!(twice.error_code(), "INVALID_STATE");
}

#[tokio::test]
async fn without_cosign_required_a_supervisee_signs_straight_to_signed() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    supervise(&app, &c.admin, &c.author, &c.supervisor, false).await;

    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;

    let read = app.get_as(&c.supervisor, &format!("/api/notes/{id}")).await;
    assert_eq!(
        read.status,
        StatusCode::OK,
        "the supervisor reads the supervisee's notes"
    );
    assert_eq!(read.json()["note"]["status"], "SIGNED");
}

#[tokio::test]
async fn another_practice_cannot_co_sign() {
    let app = TestApp::new().await;
    let a = note_clinic(&app, "Practice A").await;
    let b = note_clinic(&app, "Practice B").await;
    supervise(&app, &a.admin, &a.author, &a.supervisor, true).await;
    let id = signed(&app, &a.author, &a.patient, "PROGRESS").await;

    let response = cosign(&app, &b.supervisor, &id, json!({ "decision": "APPROVE" })).await;

    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
}
