//! The daily job that flags overdue drafts (they stay editable).

use axum::http::{Method, StatusCode};
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::notes::{audited_note, note_clinic, owner_statement, signed, soap, written};

#[tokio::test]
async fn drafts_past_due_are_flagged_once_and_stay_editable() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let late = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    let on_time = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    let late_but_signed = signed(&app, &c.author, &c.patient, "PROGRESS").await;
    for id in [&late, &late_but_signed] {
        // Drafts' due times may be moved; a signed note's may not (so the second is refused).
        let _ = owner_statement(
            &app,
            "UPDATE notes SET due_at = now() - interval '1 hour' WHERE id = $1::uuid",
            id,
        )
        .await;
    }
    let pool = app.state().db().clone();

    let flagged = haven::notes::overdue::mark_all(&pool).await.expect("run");
    let again = haven::notes::overdue::mark_all(&pool)
        .await
        .expect("second run");

    assert_eq!((flagged, again), (1, 0));
    let read = app
        .get_as(&c.author, &format!("/api/notes/{late}"))
        .await
        .json();
    assert_eq!(read["note"]["overdue"], true);
    assert_eq!(read["note"]["status"], "DRAFT");
    let on_time_read = app
        .get_as(&c.author, &format!("/api/notes/{on_time}"))
        .await
        .json();
    assert_eq!(on_time_read["note"]["overdue"], false);
    assert_eq!(audited_note(&app, &c.admin, "NOTE_OVERDUE", &late).await, 1);
    let edit = app
        .json_as(
            &c.author,
            Method::PATCH,
            &format!("/api/notes/{late}"),
            &json!({ "sections": { "plan": "Caught up." }, "expectedVersion": 1 }),
        )
        .await;
    assert_eq!(edit.status, StatusCode::OK);
}

#[tokio::test]
async fn a_run_holding_the_lock_makes_another_skip_the_organization() {
    let app = TestApp::new().await;
    let c = note_clinic(&app, "Practice A").await;
    let late = written(&app, &c.author, &soap(&c.patient, "PROGRESS")).await;
    owner_statement(
        &app,
        "UPDATE notes SET due_at = now() - interval '1 hour' WHERE id = $1::uuid",
        &late,
    )
    .await;
    let pool = app.state().db().clone();
    let mut holder = pool
        .begin_tenant(c.admin.organization_id, None)
        .await
        .expect("tx");
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('haven.note_overdue'), hashtext($1))")
        .bind(c.admin.organization_id.to_string())
        .execute(holder.conn())
        .await
        .expect("lock");

    let skipped = haven::notes::overdue::mark_organization(&pool, c.admin.organization_id)
        .await
        .expect("run");
    holder.rollback().await.expect("release");
    let done = haven::notes::overdue::mark_organization(&pool, c.admin.organization_id)
        .await
        .expect("run");

    assert_eq!(skipped, None);
    assert_eq!(done, Some(1));
}
