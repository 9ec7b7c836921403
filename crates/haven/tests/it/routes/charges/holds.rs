//! Computed holds: re-evaluated by the transaction that signs, co-signs or returns the linked
//! note, and by the daily job; READY exactly when there is none.

use axum::http::{Method, StatusCode};
use haven_testkit::{PASSWORD, TestApp};
use serde_json::json;

use crate::fixtures::charges::{charge_clinic, charge_of, completed, get, session_note};
use crate::fixtures::notes::{owner_statement, sign, supervise, text};

#[tokio::test]
async fn signing_the_sessions_note_makes_the_charge_ready_in_the_same_transaction() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let session = completed(&app, &k, 2, 2).await;
    let note = session_note(&app, &k, &session, "PROGRESS").await;
    // A draft written after the charge: the daily job sees it (creating it re-evaluates nothing).
    let pool = app.state().db().clone();
    haven::charges::holds::reevaluate_all(&pool)
        .await
        .expect("daily run");
    let drafted = charge_of(&app, &k.c.billing, &session).await;
    assert_eq!(
        drafted["holdReasons"],
        json!(["NOTE_UNSIGNED", "DIAGNOSIS_MISSING"])
    );

    let signed = sign(&app, &k.c.author, &note).await;

    assert_eq!(signed.status, StatusCode::OK, "{}", text(&signed));
    let ready = get(&app, &k.c.billing, &drafted["id"]).await.json()["charge"].clone();
    assert_eq!(ready["status"], "READY");
    assert_eq!(ready["holdReasons"], json!([]));
    // The signed note's codes fill the charge's, pointed at.
    assert_eq!(ready["diagnosisCodes"], json!(["F84.0"]));
    assert_eq!(ready["diagnosisPointers"], json!([1]));
    // Becoming READY is audited once, in the signing transaction (realtime: `charge.ready`).
    let events = app.audit_events(k.c.billing.organization_id).await;
    let became_ready = events
        .iter()
        .filter(|(action, _, _)| action == "CHARGE_READY");
    assert_eq!(became_ready.count(), 1);
}

#[tokio::test]
async fn a_note_awaiting_cosignature_holds_the_charge_until_the_supervisor_approves() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    supervise(&app, &k.c.admin, &k.c.author, &k.c.supervisor, true).await;
    let session = completed(&app, &k, 2, 2).await;
    let note = session_note(&app, &k, &session, "PROGRESS").await;
    assert_eq!(sign(&app, &k.c.author, &note).await.status, StatusCode::OK);
    let pending = charge_of(&app, &k.c.billing, &session).await;
    assert_eq!(pending["status"], "PENDING");
    // The codes are taken from the note once it is SIGNED, not before.
    assert_eq!(
        pending["holdReasons"],
        json!(["COSIGN_MISSING", "DIAGNOSIS_MISSING"])
    );

    let approved = app
        .json_as(
            &k.c.supervisor,
            Method::POST,
            &format!("/api/notes/{note}/cosign"),
            &json!({ "decision": "APPROVE", "password": PASSWORD }),
        )
        .await;

    assert_eq!(approved.status, StatusCode::OK, "{}", text(&approved));
    let ready = charge_of(&app, &k.c.billing, &session).await;
    assert_eq!(
        (ready["status"].clone(), ready["holdReasons"].clone()),
        (json!("READY"), json!([]))
    );
}

#[tokio::test]
async fn a_psychotherapy_note_never_documents_a_charge_nor_reaches_it() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let session = completed(&app, &k, 2, 2).await;
    let note = session_note(&app, &k, &session, "PSYCHOTHERAPY").await;

    let signed = sign(&app, &k.c.author, &note).await;

    assert_eq!(signed.status, StatusCode::OK, "{}", text(&signed));
    let charge = charge_of(&app, &k.c.billing, &session).await;
    assert_eq!(
        charge["holdReasons"],
        json!(["NOTE_MISSING", "DIAGNOSIS_MISSING"])
    );
    assert_eq!(charge["diagnosisCodes"], json!([]));
    let read = get(&app, &k.c.admin, &charge["id"]).await;
    for content in [
        "Reports better sleep",
        "Calm, engaged",
        "Improving",
        "Continue weekly",
    ] {
        assert!(!text(&read).contains(content), "{content}");
    }
}

#[tokio::test]
async fn the_daily_job_holds_charges_of_a_cancelled_authorization_and_skips_when_busy() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let session = completed(&app, &k, 2, 2).await;
    let note = session_note(&app, &k, &session, "PROGRESS").await;
    assert_eq!(sign(&app, &k.c.author, &note).await.status, StatusCode::OK);
    assert_eq!(
        charge_of(&app, &k.c.billing, &session).await["status"],
        "READY"
    );
    assert_eq!(
        owner_statement(
            &app,
            "UPDATE authorizations SET status = 'CANCELLED' WHERE id = $1::uuid",
            &k.auth
        )
        .await,
        None
    );
    let pool = app.state().db().clone();
    let org = k.c.admin.organization_id;

    // Another instance holding this organization's run makes this one skip.
    let mut holder = pool.begin_tenant(org, None).await.expect("tx");
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('haven.charge_holds'), hashtext($1))")
        .bind(org.to_string())
        .execute(holder.conn())
        .await
        .expect("lock");
    let skipped = haven::charges::holds::reevaluate_organization(&pool, org)
        .await
        .expect("run");
    assert_eq!(skipped, None);
    holder.rollback().await.expect("release");

    let changed = haven::charges::holds::reevaluate_all(&pool)
        .await
        .expect("run");

    assert_eq!(changed, 1);
    let held = charge_of(&app, &k.c.billing, &session).await;
    assert_eq!(held["status"], "PENDING");
    assert_eq!(held["holdReasons"], json!(["AUTHORIZATION_EXPIRED"]));
    let again = haven::charges::holds::reevaluate_all(&pool)
        .await
        .expect("run");
    assert_eq!(again, 0, "nothing changes twice");
}
