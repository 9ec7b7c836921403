//! Who reaches a note by which path (SPEC §6): emergency access reaches ordinary notes, and a
//! psychotherapy note is its author's and the author's supervisor's only — every other path
//! (an emergency grant, an ADMIN, a care-team colleague, BILLING, a platform operator, a list)
//! finds nothing.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::btg::grant_id;
use crate::fixtures::notes::{audited_note, note_clinic, signed, soap, supervise, text, written};

#[tokio::test]
async fn an_emergency_grant_opens_an_ordinary_note_audited_as_btg_use() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = signed(&app, &c.author, &c.patient, "PROGRESS").await;
    grant_id(&app, &c.admin, &c.outsider, &c.patient).await;

    let read = app.get_as(&c.outsider, &format!("/api/notes/{id}")).await;

    assert_eq!(read.status, StatusCode::OK, "{}", text(&read));
    assert_eq!(read.json()["note"]["sections"]["plan"], "Continue weekly.");
    assert!(app.audited(c.admin.organization_id, "BTG_USE_ACCESS").await);
}

#[tokio::test]
async fn a_psychotherapy_note_is_hidden_from_every_path_but_author_and_supervisor() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    supervise(&app, &c.admin, &c.author, &c.supervisor, false).await;
    let id = signed(&app, &c.author, &c.patient, "PSYCHOTHERAPY").await;
    let ordinary = signed(&app, &c.author, &c.patient, "PROGRESS").await;
    grant_id(&app, &c.admin, &c.outsider, &c.patient).await;
    let operator = app.user_in(c.admin.organization_id, Role::SuperAdmin).await;

    // The two who may.
    for user in [&c.author, &c.supervisor] {
        let read = app.get_as(user, &format!("/api/notes/{id}")).await;
        assert_eq!(read.status, StatusCode::OK, "{:?}", user.id);
        assert_eq!(read.json()["note"]["sections"]["assessment"], "Improving.");
    }
    // Everyone else: the note does not exist for them, by id...
    for (who, user) in [
        ("admin", &c.admin),
        ("care-team colleague", &c.colleague),
        ("emergency grant", &c.outsider),
        ("billing", &c.billing),
    ] {
        let read = app.get_as(user, &format!("/api/notes/{id}")).await;
        assert_eq!(read.status, StatusCode::NOT_FOUND, "{who}");
        let addendum = app
            .json_as(
                user,
                Method::POST,
                &format!("/api/notes/{id}/addenda"),
                &json!({ "kind": "ADDENDUM", "reason": "r", "text": "t", "password": haven_testkit::PASSWORD }),
            )
            .await;
        assert_eq!(addendum.status, StatusCode::NOT_FOUND, "{who}");
        // ...nor in a list (the ordinary note is there).
        let list = app.get_as(user, "/api/notes").await.json();
        let ids: Vec<&str> = list["notes"]
            .as_array()
            .expect("notes")
            .iter()
            .map(|n| n["id"].as_str().expect("id"))
            .collect();
        assert!(!ids.contains(&id.as_str()), "{who} lists it");
        // (An emergency grant opens a patient by id; it does not add it to lists.)
        if who != "emergency grant" {
            assert!(
                ids.contains(&ordinary.as_str()),
                "{who} lists the ordinary note"
            );
        }
    }
    // An ADMIN cannot mark it in error or delete it either, and a platform operator acting in
    // the practice cannot read it.
    let entered = app
        .json_as(
            &c.admin,
            Method::POST,
            &format!("/api/notes/{id}/entered-in-error"),
            &json!({ "reason": "wrong patient" }),
        )
        .await;
    assert_eq!(entered.status, StatusCode::NOT_FOUND);
    let mut req = haven_testkit::request(
        Method::GET,
        &format!("/api/notes/{id}"),
        axum::body::Body::empty(),
    );
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", operator.token)
            .parse()
            .expect("header"),
    );
    req.headers_mut().insert(
        "x-haven-organization",
        c.admin.organization_id.to_string().parse().expect("header"),
    );
    let as_operator = app.send(req).await;
    assert_eq!(
        as_operator.status,
        StatusCode::NOT_FOUND,
        "{}",
        text(&as_operator)
    );
    // The refusals are audited, and no read of it was.
    assert!(app.audited(c.admin.organization_id, "ACCESS_DENIED").await);
    assert_eq!(audited_note(&app, &c.admin, "NOTE_READ", &id).await, 2);
    let list = app.get_as(&c.supervisor, "/api/notes").await.json();
    assert_eq!(list["pagination"]["total"], 2, "the supervisor lists both");
}

#[tokio::test]
async fn a_psychotherapy_draft_is_the_authors_alone_until_a_supervisor_is_assigned() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = written(&app, &c.author, &soap(&c.patient, "PSYCHOTHERAPY")).await;

    let before = app.get_as(&c.supervisor, &format!("/api/notes/{id}")).await;
    supervise(&app, &c.admin, &c.author, &c.supervisor, false).await;
    let after = app.get_as(&c.supervisor, &format!("/api/notes/{id}")).await;

    assert_eq!(before.status, StatusCode::NOT_FOUND);
    assert_eq!(after.status, StatusCode::OK);
}
