//! `PATCH /api/charges/{id}`: billing's corrections, with `expectedVersion`.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::charges::{charge_clinic, charged, get, patch, ready};
use crate::fixtures::notes::{owner_statement, text};

#[tokio::test]
async fn billing_corrects_codes_and_the_holds_follow() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let charge = ready(&app, &k, 2).await;

    let response = patch(
        &app,
        &k.c.billing,
        &charge["id"],
        &json!({
            "modifiers": ["hn", "GT"],
            "diagnosisCodes": ["F84.0", "z63.8"],
            "diagnosisPointers": [2, 1],
            "placeOfService": "02",
            "expectedVersion": charge["version"],
        }),
    )
    .await;

    assert_eq!(response.status, StatusCode::OK, "{}", text(&response));
    let updated = response.json()["charge"].clone();
    assert_eq!(updated["modifiers"], json!(["HN", "GT"]));
    assert_eq!(updated["diagnosisCodes"], json!(["F84.0", "Z63.8"]));
    assert_eq!(updated["diagnosisPointers"], json!([2, 1]));
    assert_eq!(updated["placeOfService"], "02");
    assert_eq!(updated["status"], "READY");
    assert_eq!(updated["units"], 2, "units are the ledger's, not editable");
    assert!(updated["version"].as_i64() > charge["version"].as_i64());
    assert!(
        app.audited(k.c.admin.organization_id, "CHARGE_UPDATE")
            .await
    );

    // Emptying the diagnoses holds it again.
    let emptied = patch(
        &app,
        &k.c.admin,
        &charge["id"],
        &json!({
            "diagnosisCodes": [], "expectedVersion": updated["version"],
        }),
    )
    .await;
    assert_eq!(
        emptied.status,
        StatusCode::BAD_REQUEST,
        "pointers would dangle: {}",
        text(&emptied)
    );
}

#[tokio::test]
async fn a_stale_expected_version_answers_409_and_changes_nothing() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let charge = charged(&app, &k, 2, 2).await;
    let stale = charge["version"].as_i64().expect("version") - 1;

    let response = patch(
        &app,
        &k.c.billing,
        &charge["id"],
        &json!({
            "placeOfService": "02", "expectedVersion": stale,
        }),
    )
    .await;

    assert_eq!(response.status, StatusCode::CONFLICT);
    assert_eq!(response.error_code(), "CONFLICT");
    let read = get(&app, &k.c.billing, &charge["id"]).await.json()["charge"].clone();
    assert_eq!(read["placeOfService"], "11");
}

#[tokio::test]
async fn malformed_lines_answer_400_and_change_nothing() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let charge = charged(&app, &k, 2, 2).await;
    let v = charge["version"].clone();
    let bad: [(Value, &str); 8] = [
        (
            json!({ "modifiers": ["HN", "HO", "GT", "59", "76"], "expectedVersion": v }),
            "modifiers",
        ),
        (
            json!({ "modifiers": ["HNX"], "expectedVersion": v }),
            "modifiers",
        ),
        (
            json!({ "diagnosisCodes": ["84.0"], "expectedVersion": v }),
            "diagnosisCodes",
        ),
        (
            json!({ "diagnosisCodes": vec!["F84.0"; 13], "expectedVersion": v }),
            "diagnosisCodes",
        ),
        (
            json!({ "diagnosisCodes": ["F84.0"], "diagnosisPointers": [2], "expectedVersion": v }),
            "diagnosisPointers",
        ),
        (
            json!({ "diagnosisCodes": ["F84.0", "F80.9"], "diagnosisPointers": [1, 2, 1], "expectedVersion": v }),
            "diagnosisPointers",
        ),
        (
            json!({ "placeOfService": "office", "expectedVersion": v }),
            "placeOfService",
        ),
        (json!({ "expectedVersion": v }), "modifiers"),
    ];
    for (body, field) in bad {
        let response = patch(&app, &k.c.billing, &charge["id"], &body).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            text(&response)
        );
        assert_eq!(response.error_code(), "VALIDATION_ERROR");
        assert!(
            response.json()["details"].get(field).is_some(),
            "{body}: {}",
            text(&response)
        );
    }
    let read = get(&app, &k.c.billing, &charge["id"]).await.json()["charge"].clone();
    assert_eq!(read["version"], v);
}

#[tokio::test]
async fn an_exported_or_void_charge_cannot_be_patched() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let charge = ready(&app, &k, 2).await;
    let id = charge["id"].as_str().expect("id");
    assert_eq!(
        owner_statement(
            &app,
            "UPDATE charges SET status = 'EXPORTED', exported_codes = '{1}', exported_version = version WHERE id = $1::uuid",
            id
        )
        .await,
        None
    );

    let response = patch(
        &app,
        &k.c.billing,
        &charge["id"],
        &json!({
            "placeOfService": "02", "expectedVersion": charge["version"],
        }),
    )
    .await;

    assert_eq!(response.status, StatusCode::CONFLICT);
    assert_eq!(response.error_code(), "INVALID_STATE");
}
