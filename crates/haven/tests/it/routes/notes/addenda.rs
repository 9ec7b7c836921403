//! `POST /api/notes/{id}/addenda`.

use axum::http::{Method, StatusCode};
use haven_testkit::{PASSWORD, TestApp, TestResponse, TestUser};
use serde_json::{Value, json};

use crate::fixtures::notes::{audited_note, note_clinic, signed, soap, text, written};

fn body(kind: &str, text: &str) -> Value {
    json!({ "kind": kind, "reason": "Late information from the parent.", "text": text, "password": PASSWORD })
}

async fn add(app: &TestApp, user: &TestUser, id: &str, body: &Value) -> TestResponse {
    app.json_as(
        user,
        Method::POST,
        &format!("/api/notes/{id}/addenda"),
        body,
    )
    .await
}

#[tokio::test]
async fn signed_addenda_are_numbered_and_shown_with_the_note() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;

    let first = add(
        &app,
        &c.author,
        &id,
        &body("CORRECTION", "Session lasted 50 minutes."),
    )
    .await;
    let second = add(
        &app,
        &c.colleague,
        &id,
        &body("ADDENDUM", "Parent confirmed the plan."),
    )
    .await;

    assert_eq!(first.status, StatusCode::CREATED, "{}", text(&first));
    assert_eq!(first.json()["addendum"]["number"], 1);
    assert_eq!(second.json()["addendum"]["number"], 2);
    let read = app
        .get_as(&c.admin, &format!("/api/notes/{id}"))
        .await
        .json();
    let addenda = read["note"]["addenda"].as_array().expect("addenda").clone();
    assert_eq!(addenda.len(), 2);
    assert_eq!(addenda[0]["kind"], "CORRECTION");
    assert_eq!(addenda[0]["text"], "Session lasted 50 minutes.");
    assert_eq!(addenda[1]["authorId"], c.colleague.id.to_string());
    assert!(addenda.iter().all(|a| a["valid"] == true));
    assert_eq!(
        read["note"]["sections"]["plan"], "Continue weekly.",
        "the note itself is unchanged"
    );
    assert_eq!(audited_note(&app, &c.admin, "NOTE_ADDENDUM", &id).await, 2);
}

#[tokio::test]
async fn concurrent_addenda_get_distinct_numbers() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let c = note_clinic(&app, "Practice A").await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;

    let tasks: Vec<_> = (0..8)
        .map(|i| {
            // Four each: a re-authentication in flight counts toward the lock until it passes.
            let user = if i % 2 == 0 { &c.author } else { &c.colleague };
            let (app, user, id) = (app.clone(), user.clone(), id.clone());
            tokio::spawn(async move {
                add(&app, &user, &id, &body("ADDENDUM", &format!("note {i}")))
                    .await
                    .status
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task"), StatusCode::CREATED);
    }

    let owner = app.db().owner_pool().await;
    let numbers: Vec<i32> = sqlx::query_scalar("SELECT number FROM note_addenda ORDER BY number")
        .fetch_all(&owner)
        .await
        .expect("numbers");
    assert_eq!(numbers, (1..=8).collect::<Vec<_>>());
}

#[tokio::test]
async fn bad_addenda_are_refused_and_nothing_is_added() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;
    let draft = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;

    let unknown = add(&app, &c.author, &id, &body("REWRITE", "x")).await;
    let empty = add(&app, &c.author, &id, &body("ADDENDUM", " ")).await;
    let to_draft = add(&app, &c.author, &draft, &body("ADDENDUM", "x")).await;
    let wrong_password = add(
        &app,
        &c.author,
        &id,
        &json!({ "kind": "ADDENDUM", "reason": "r", "text": "t", "password": "wrong-password-123" }),
    )
    .await;

    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.json()["details"].get("kind").is_some());
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.json()["details"].get("text").is_some());
    assert_eq!(to_draft.status, StatusCode::CONFLICT);
    assert_eq!(to_draft.error_code(), "INVALID_STATE");
    assert_eq!(wrong_password.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        audited_note(&app, &c.admin, "NOTE_SIGN_FAILED", &id).await,
        1
    );
    let owner = app.db().owner_pool().await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM note_addenda")
        .fetch_one(&owner)
        .await
        .expect("count");
    assert_eq!(count, 0);
}

#[tokio::test]
async fn who_may_add_an_addendum() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let b = note_clinic(&app, "Practice B").await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;
    let addendum = body("ADDENDUM", "x");

    assert_eq!(
        add(&app, &c.admin, &id, &addendum).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        add(&app, &c.billing, &id, &addendum).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        add(&app, &c.scheduler, &id, &addendum).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        add(&app, &c.outsider, &id, &addendum).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        add(&app, &b.author, &id, &addendum).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        app.audited(b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
}
