//! `GET /api/notes/{id}` and `GET /api/notes`.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::notes::{audited_note, note_clinic, signed, soap, supervise, written};

#[tokio::test]
async fn a_care_team_colleague_reads_the_content_and_the_read_is_audited() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;

    let read = app.get_as(&c.colleague, &format!("/api/notes/{id}")).await;

    assert_eq!(read.status, StatusCode::OK);
    let note = &read.json()["note"];
    assert_eq!(note["sections"]["assessment"], "Improving.");
    assert_eq!(note["status"], "SIGNED");
    assert_eq!(note["signatures"][0]["kind"], "SIGN");
    assert_eq!(note["signatures"][0]["valid"], true);
    assert_eq!(note["addenda"], json!([]));
    assert_eq!(audited_note(&app, &c.admin, "NOTE_READ", &id).await, 1);
}

#[tokio::test]
async fn billing_reads_the_header_only() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;

    let read = app.get_as(&c.billing, &format!("/api/notes/{id}")).await;

    assert_eq!(read.status, StatusCode::OK);
    let note = &read.json()["note"];
    assert_eq!(note["status"], "SIGNED");
    assert_eq!(note["signedBy"], c.author.id.to_string());
    assert!(note.get("sections").is_none());
    assert!(note.get("addenda").is_none());
    assert!(note["signatures"][0].get("statement").is_none());
    assert!(!String::from_utf8_lossy(&read.body).contains("Improving"));
}

#[tokio::test]
async fn an_admin_reads_the_content_and_the_outsider_gets_404() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;

    let admin = app.get_as(&c.admin, &format!("/api/notes/{id}")).await;
    let outsider = app.get_as(&c.outsider, &format!("/api/notes/{id}")).await;

    assert_eq!(
        admin.json()["note"]["sections"]["objective"],
        "Calm, engaged."
    );
    assert_eq!(outsider.status, StatusCode::NOT_FOUND);
    assert!(app.audited(c.admin.organization_id, "ACCESS_DENIED").await);
}

#[tokio::test]
async fn scheduler_and_compliance_see_no_notes() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    for user in [&c.scheduler, &c.compliance] {
        assert_eq!(
            app.get_as(user, &format!("/api/notes/{id}")).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.get_as(user, "/api/notes").await.status,
            StatusCode::FORBIDDEN
        );
    }
}

#[tokio::test]
async fn another_practice_gets_404_and_the_attempt_is_audited() {
    let app = TestApp::new().await;
    let a = note_clinic(&app, "Practice A").await;
    let b = note_clinic(&app, "Practice B").await;
    let id = written(&app, &a.author, &soap(&a.patient, "PROGRESS")).await;

    let read = app.get_as(&b.admin, &format!("/api/notes/{id}")).await;

    assert_eq!(read.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
    assert_eq!(audited_note(&app, &a.admin, "NOTE_READ", &id).await, 0);
}

#[tokio::test]
async fn lists_carry_headers_only_filtered_and_audited_per_patient() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let draft = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    let done = signed(&app, &c.author, &c.patient, "INTAKE").await;

    let all = app.get_as(&c.admin, "/api/notes").await;
    let drafts = app
        .get_as(&c.billing, "/api/notes?status=DRAFT")
        .await
        .json();
    let mine = app
        .get_as(
            &c.author,
            &format!(
                "/api/notes?authorId={}&patientId={}",
                c.author.id, c.patient
            ),
        )
        .await
        .json();
    let outsider = app.get_as(&c.outsider, "/api/notes").await.json();
    let bad = app.get_as(&c.admin, "/api/notes?status=LOST").await;

    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.json()["pagination"]["total"], 2);
    assert!(!String::from_utf8_lossy(&all.body).contains("Improving"));
    assert!(all.json()["notes"][0].get("sections").is_none());
    assert_eq!(drafts["notes"][0]["id"], draft.as_str());
    assert_eq!(drafts["pagination"]["total"], 1);
    assert_eq!(mine["pagination"]["total"], 2);
    assert_eq!(outsider["pagination"]["total"], 0);
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(app.audited(c.admin.organization_id, "NOTE_LIST").await);
    let _ = done;
}

#[tokio::test]
async fn awaiting_my_cosign_lists_the_supervisees_pending_notes() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    supervise(&app, &c.admin, &c.author, &c.supervisor, true).await;
    let pending = signed(&app, &c.author, &c.patient, "PROGRESS").await;
    written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;

    let mine = app
        .get_as(&c.supervisor, "/api/notes?awaitingMyCosign=true")
        .await
        .json();
    let someone_else = app
        .get_as(&c.colleague, "/api/notes?awaitingMyCosign=true")
        .await
        .json();

    assert_eq!(mine["pagination"]["total"], 1);
    assert_eq!(mine["notes"][0]["id"], pending.as_str());
    assert_eq!(mine["notes"][0]["status"], "PENDING_COSIGN");
    assert_eq!(someone_else["pagination"]["total"], 0);
}
