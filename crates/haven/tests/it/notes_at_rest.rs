//! Clinical notes at rest: a marker written into a note's sections, an attestation and an
//! addendum is found nowhere in the cluster's files (tables, WAL, logs), and a version's
//! ciphertext moved to another version does not open.

use axum::http::{Method, StatusCode};
use haven_testkit::{PASSWORD, TestApp};
use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::fixtures::at_rest::files_containing;

use crate::fixtures::notes::{note_clinic, soap, text, written};

#[tokio::test]
async fn no_note_or_addendum_text_reaches_the_database_files() {
    let app = TestApp::new().await;
    let Some(data_dir) = app.db().cluster_data_dir() else {
        haven_testkit::services::unavailable(
            "no_note_or_addendum_text_reaches_the_database_files",
            "the private test cluster's data files",
            &"HAVEN_TEST_DATABASE_URL points at a server whose files are not ours",
        );
        return;
    };
    let c = note_clinic(&app, "Practice A").await;
    let marker = format!("Nq{}", uuid::Uuid::new_v4().simple());
    let mut body = soap(&c.patient, "PROGRESS");
    body["sections"]["subjective"] = json!(format!("{marker} reports nightmares"));
    let id = written(&app, &c.author, &body).await;
    let edited = app
        .json_as(
            &c.author,
            Method::PATCH,
            &format!("/api/notes/{id}"),
            &json!({ "sections": { "plan": format!("{marker} plan") }, "expectedVersion": 1 }),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", text(&edited));
    let signed = app
        .json_as(
            &c.author,
            Method::POST,
            &format!("/api/notes/{id}/sign"),
            &json!({ "password": PASSWORD, "attestation": format!("{marker} attests") }),
        )
        .await;
    assert_eq!(signed.status, StatusCode::OK, "{}", text(&signed));
    let added = app
        .json_as(
            &c.author,
            Method::POST,
            &format!("/api/notes/{id}/addenda"),
            &json!({ "kind": "CORRECTION", "reason": format!("{marker} reason"), "text": format!("{marker} addendum"), "password": PASSWORD }),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", text(&added));
    let read = app.get_as(&c.author, &format!("/api/notes/{id}")).await;
    assert!(String::from_utf8_lossy(&read.body).contains(&format!("{marker} addendum")));

    let mut su = PgConnection::connect_with(&app.db().superuser_options())
        .await
        .expect("superuser");
    sqlx::query("CHECKPOINT")
        .execute(&mut su)
        .await
        .expect("checkpoint");
    sqlx::query("SELECT pg_switch_wal()")
        .execute(&mut su)
        .await
        .expect("switch wal");

    let hits = files_containing(data_dir, marker.as_bytes());
    assert!(hits.is_empty(), "note text found in {hits:?}");
}

#[tokio::test]
async fn a_versions_ciphertext_does_not_open_as_another_version() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let id = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    let edited = app
        .json_as(
            &c.author,
            Method::PATCH,
            &format!("/api/notes/{id}"),
            &json!({ "sections": { "plan": "v2" }, "expectedVersion": 1 }),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK);
    let mut su = PgConnection::connect_with(&app.db().superuser_options())
        .await
        .expect("superuser");
    // Past the trigger (as a superuser with triggers off): version 1's blob under version 2.
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut su)
        .await
        .expect("replica");
    sqlx::query(
        "UPDATE note_versions SET sections = (SELECT sections FROM note_versions \
             WHERE note_id = $1::uuid AND version = 1) \
         WHERE note_id = $1::uuid AND version = 2",
    )
    .bind(&id)
    .execute(&mut su)
    .await
    .expect("swap");

    let read = app.get_as(&c.author, &format!("/api/notes/{id}")).await;

    assert_eq!(
        read.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "fails closed"
    );
    assert!(!String::from_utf8_lossy(&read.body).contains("Reports better sleep"));
}
