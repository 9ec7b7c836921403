//! Signing and editing racing: exactly one wins, and what is signed is what the HMAC covers.

use axum::http::{Method, StatusCode};
use haven_testkit::{PASSWORD, TestApp};
use serde_json::json;

use crate::fixtures::notes::{note_clinic, soap, text, written};

#[tokio::test]
async fn signing_and_edits_racing_on_one_version_exactly_one_wins() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let c = note_clinic(&app, "Practice A").await;
    for round in 0..3 {
        let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
        let tasks: Vec<_> = (0..12usize)
            .map(|i| {
                let (app, author, id) = (app.clone(), c.author.clone(), id.clone());
                tokio::spawn(async move {
                    let response = if i % 3 == 0 {
                        app.json_as(
                            &author,
                            Method::POST,
                            &format!("/api/notes/{id}/sign"),
                            &json!({ "password": PASSWORD, "expectedVersion": 1 }),
                        )
                        .await
                    } else {
                        app.json_as(
                            &author,
                            Method::PATCH,
                            &format!("/api/notes/{id}"),
                            &json!({ "sections": { "plan": format!("edit {i}") }, "expectedVersion": 1 }),
                        )
                        .await
                    };
                    (i % 3 == 0, response.status, response.error_code(), text(&response))
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (signing, status, code, raw) = task.await.expect("task");
            match status {
                StatusCode::OK => winners.push(signing),
                StatusCode::CONFLICT => assert!(
                    ["CONFLICT", "NOTE_LOCKED", "INVALID_STATE"].contains(&code.as_str()),
                    "{raw}"
                ),
                other => panic!("round {round}: {other}: {raw}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one wins ({winners:?})"
        );

        let read = app
            .get_as(&c.author, &format!("/api/notes/{id}"))
            .await
            .json();
        let note = &read["note"];
        let owner = app.db().owner_pool().await;
        let (status, version, versions, signatures): (String, i32, i64, i64) = sqlx::query_as(
            "SELECT n.status, n.version, \
                    (SELECT count(*) FROM note_versions v WHERE v.note_id = n.id), \
                    (SELECT count(*) FROM note_signatures s WHERE s.note_id = n.id) \
             FROM notes n WHERE n.id = $1::uuid",
        )
        .bind(&id)
        .fetch_one(&owner)
        .await
        .expect("note");
        if winners[0] {
            // The signature won: version 1, unedited, and its HMAC verifies over that content.
            assert_eq!(
                (status.as_str(), version, versions, signatures),
                ("SIGNED", 1, 1, 1)
            );
            assert_eq!(note["sections"]["plan"], "Continue weekly.");
            assert_eq!(note["signatures"][0]["version"], 1);
            assert_eq!(note["signatures"][0]["valid"], true);
        } else {
            assert_eq!(
                (status.as_str(), version, versions, signatures),
                ("DRAFT", 2, 2, 0)
            );
        }
    }
}
