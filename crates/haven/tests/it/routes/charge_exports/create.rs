//! `POST /api/charge-exports` and `GET /api/charge-exports`.

use axum::http::{Method, StatusCode};
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::charges::{
    act, charge_clinic, charge_of, completed, export, exported, get, patch, ready,
};
use crate::fixtures::notes::{owner_statement, text};
use crate::fixtures::units::audited;

#[tokio::test]
async fn ready_charges_are_exported_once_and_pending_ones_wait() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let a = ready(&app, &k, 2).await;
    let b = ready(&app, &k, 3).await;
    let pending = completed(&app, &k, 1, 1).await;

    let made = exported(&app, &k.c.billing, "csv").await;

    assert_eq!(made["format"], "csv");
    assert_eq!(made["chargeCount"], 2);
    assert_eq!(
        made["totalChargeCents"],
        a["chargeCents"].as_i64().unwrap_or(0) + b["chargeCents"].as_i64().unwrap_or(0)
    );
    for charge in [&a, &b] {
        let read = get(&app, &k.c.billing, &charge["id"]).await.json()["charge"].clone();
        assert_eq!(read["status"], "EXPORTED");
        assert_eq!(
            read["version"], charge["version"],
            "an export is not a change"
        );
    }
    assert_eq!(
        charge_of(&app, &k.c.billing, &pending).await["status"],
        "PENDING"
    );
    let again = export(&app, &k.c.billing, "837p-json").await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        text(&again)
    );
    assert_eq!(again.error_code(), "VALIDATION_ERROR");
    let exports = audited(&app, k.c.admin.organization_id, "CHARGE_EXPORT").await;
    assert_eq!(exports.len(), 1);
    // Its reach, for breach detection (BULK_EXPORT): the distinct patients of its lines.
    let patients = if a["patientId"] == b["patientId"] {
        1
    } else {
        2
    };
    assert_eq!(exports[0]["patientCount"], patients, "{}", exports[0]);
    // An exported charge is not patched.
    let patched = patch(
        &app,
        &k.c.billing,
        &a["id"],
        &json!({ "placeOfService": "02", "expectedVersion": a["version"] }),
    )
    .await;
    assert_eq!(patched.error_code(), "INVALID_STATE");

    let list = app.get_as(&k.c.admin, "/api/charge-exports").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json()["pagination"]["total"], 1);
    assert_eq!(list.json()["exports"][0]["id"], made["id"]);
}

#[tokio::test]
async fn a_voided_exported_charge_goes_out_as_a_void_and_a_changed_one_as_a_replacement() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let voided = ready(&app, &k, 2).await;
    let changed = ready(&app, &k, 3).await;
    exported(&app, &k.c.billing, "csv").await;
    let void = act(
        &app,
        &k.c.billing,
        &voided["id"],
        "void",
        "Billed to the wrong payer",
    )
    .await;
    assert_eq!(void.status, StatusCode::OK, "{}", text(&void));
    // A correction after export (the ledger re-derivation path; no endpoint edits an exported line).
    let id = changed["id"].as_str().expect("id");
    assert_eq!(
        owner_statement(
            &app,
            "UPDATE charges SET place_of_service = '12', version = version + 1 WHERE id = $1::uuid",
            id
        )
        .await,
        None
    );

    let second = exported(&app, &k.c.billing, "csv").await;

    assert_eq!(second["chargeCount"], 2);
    assert_eq!(
        second["totalChargeCents"], changed["chargeCents"],
        "a void bills nothing"
    );
    let owner = app.db().owner_pool().await;
    let codes: Vec<(String, String)> = sqlx::query_as(
        "SELECT charge_id::text, frequency_code FROM charge_export_items WHERE export_id = $1::uuid ORDER BY frequency_code",
    )
    .bind(second["id"].as_str().expect("id"))
    .fetch_all(&owner)
    .await
    .expect("items");
    owner.close().await;
    assert_eq!(
        codes,
        vec![
            (id.to_owned(), "7".to_owned()),
            (
                voided["id"].as_str().expect("id").to_owned(),
                "8".to_owned()
            ),
        ]
    );
    let third = export(&app, &k.c.billing, "csv").await;
    assert_eq!(
        third.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "each code goes out once"
    );
    // The database refuses a second export of one charge with one code, whoever writes it.
    let copy = "WITH e AS ( \
            INSERT INTO charge_exports (organization_id, id, format, from_date, to_date, charge_count, total_charge_cents) \
            SELECT organization_id, gen_random_uuid(), 'csv', from_date, to_date, 1, 0 \
            FROM charge_exports WHERE id = $1::uuid RETURNING organization_id, id) \
        INSERT INTO charge_export_items SELECT i.organization_id, e.id, i.charge_id, i.frequency_code, \
            i.charge_version, i.patient_id, i.authorization_id, i.rendering_provider_id, i.payer_name, \
            i.service_date, i.cpt_code, i.modifiers, i.diagnosis_codes, i.diagnosis_pointers, \
            i.place_of_service, i.units, i.charge_cents \
        FROM charge_export_items i CROSS JOIN e WHERE i.export_id = $1::uuid";
    let refused = owner_statement(&app, copy, second["id"].as_str().expect("id")).await;
    assert_eq!(refused.as_deref(), Some("23505"));
}

#[tokio::test]
async fn bad_requests_answer_400_and_export_nothing() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let charge = ready(&app, &k, 2).await;
    let bad: [(Value, &str); 6] = [
        (
            json!({ "format": "x12", "from": "2026-01-01", "to": "2026-02-01" }),
            "format",
        ),
        (
            json!({ "format": "csv", "from": "2026-13-01", "to": "2026-02-01" }),
            "from",
        ),
        (
            json!({ "format": "csv", "from": "2026-03-01", "to": "2026-02-01" }),
            "to",
        ),
        (
            json!({ "format": "csv", "from": "2020-01-01", "to": "2026-02-01" }),
            "to",
        ),
        (
            json!({ "format": "csv", "from": "2026-01-01", "to": "2026-02-01", "payerName": " " }),
            "payerName",
        ),
        (json!({ "format": "csv", "from": "2026-01-01" }), ""),
    ];
    for (body, field) in bad {
        let response = app
            .json_as(&k.c.billing, Method::POST, "/api/charge-exports", &body)
            .await;
        assert!(response.status.is_client_error(), "{body}");
        assert_eq!(response.error_code(), "VALIDATION_ERROR", "{body}");
        if !field.is_empty() {
            assert!(
                response.json()["details"].get(field).is_some(),
                "{body}: {}",
                text(&response)
            );
        }
    }
    // A range with nothing in it.
    let empty = app
        .json_as(
            &k.c.billing,
            Method::POST,
            "/api/charge-exports",
            &json!({ "format": "csv", "from": "2020-01-01", "to": "2020-12-31" }),
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    let read = get(&app, &k.c.billing, &charge["id"]).await.json()["charge"].clone();
    assert_eq!(read["status"], "READY");
}
