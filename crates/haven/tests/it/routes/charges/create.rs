//! Completing a session of an authorization makes its charge in the same transaction: CPT from
//! the authorization, units from the ledger, the fee from the schedule.

use axum::http::{Method, StatusCode};
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::charges::{charge_clinic, charged, completed, put_fees};
use crate::fixtures::notes::{owner_statement, text};
use crate::fixtures::units::{audited, day};

#[tokio::test]
async fn completing_a_session_makes_its_charge_with_ledger_units_and_the_payers_rate() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    put_fees(
        &app,
        &k.c.billing,
        json!([
            { "cptCode": "97153", "centsPerUnit": 1000, "effectiveFrom": day(-400) },
            { "payerName": "Blue Harbor Health", "cptCode": "97153", "centsPerUnit": 1750,
              "effectiveFrom": day(-400) },
            { "payerName": "Blue Harbor Health", "cptCode": "97153", "centsPerUnit": 9999,
              "effectiveFrom": day(5) },
        ]),
    )
    .await;

    // 4 reserved, 3 delivered: the ledger nets RESERVE 4 + CONSUME 0 + RELEASE −1 = 3.
    let charge = charged(&app, &k, 4, 3).await;

    assert_eq!(charge["cptCode"], "97153");
    assert_eq!(charge["modifiers"], json!([]));
    assert_eq!(charge["units"], 3);
    assert_eq!(charge["ledgerUnits"], 3);
    assert_eq!(charge["centsPerUnit"], 1750);
    assert_eq!(charge["chargeCents"], 5250);
    assert_eq!(charge["payerName"], "Blue Harbor Health");
    assert_eq!(charge["renderingProviderId"], json!(k.c.author.id));
    assert_eq!(charge["authorizationId"], json!(k.auth));
    assert_eq!(charge["patientId"], json!(k.c.patient));
    assert_eq!(charge["status"], "PENDING");
    assert_eq!(
        charge["holdReasons"],
        json!(["NOTE_MISSING", "DIAGNOSIS_MISSING"])
    );
    assert_eq!(charge["version"], 2, "made, then evaluated");
    let created = audited(&app, k.c.admin.organization_id, "CHARGE_CREATE").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["units"], 3);
}

#[tokio::test]
async fn more_units_than_reserved_are_billed_as_the_ledger_took_them() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    put_fees(
        &app,
        &k.c.billing,
        json!([
            { "cptCode": "97153", "centsPerUnit": 1000, "effectiveFrom": day(-400) },
        ]),
    )
    .await;

    let charge = charged(&app, &k, 2, 5).await;

    assert_eq!(
        (charge["units"].clone(), charge["chargeCents"].clone()),
        (json!(5), json!(5000))
    );
}

#[tokio::test]
async fn without_a_rate_the_charge_is_made_at_zero_cents_and_says_so() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;

    let charge = charged(&app, &k, 2, 2).await;

    assert_eq!(charge["centsPerUnit"], json!(null));
    assert_eq!(charge["chargeCents"], 0);
    assert_eq!(charge["units"], 2);
}

#[tokio::test]
async fn a_service_code_modifier_of_the_authorization_becomes_the_lines_modifier() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let mut body = crate::fixtures::units::authorization_body(&k.c.patient, 20);
    body["serviceCode"] = json!("H2019-HO");
    let created = app
        .json_as(&k.c.admin, Method::POST, "/api/authorizations", &body)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", text(&created));
    let k = crate::fixtures::charges::ChargeClinic {
        auth: created.json()["authorization"]["id"]
            .as_str()
            .expect("id")
            .to_owned(),
        c: k.c,
    };
    put_fees(&app, &k.c.billing, json!([
        { "cptCode": "H2019", "modifiers": ["HO"], "centsPerUnit": 300, "effectiveFrom": day(-1) },
        { "cptCode": "H2019", "centsPerUnit": 100, "effectiveFrom": day(-1) },
    ]))
    .await;

    let charge = charged(&app, &k, 2, 2).await;

    assert_eq!(charge["cptCode"], "H2019");
    assert_eq!(charge["modifiers"], json!(["HO"]));
    assert_eq!(charge["chargeCents"], 600);
}

#[tokio::test]
async fn a_session_completed_with_no_units_bills_nothing() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;

    completed(&app, &k, 2, 0).await;

    let list = app.get_as(&k.c.billing, "/api/charges").await.json();
    assert_eq!(list["pagination"]["total"], 0);
}

#[tokio::test]
async fn the_database_keeps_one_live_charge_per_session_and_well_formed_lines() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let charge = charged(&app, &k, 2, 2).await;
    let id = charge["id"].as_str().expect("id");

    let copy = "INSERT INTO charges (organization_id, session_id, authorization_id, patient_id, \
                    payer_name, service_date, cpt_code, units, charge_cents, hold_reasons) \
                SELECT organization_id, session_id, authorization_id, patient_id, payer_name, \
                    service_date, cpt_code, units, charge_cents, hold_reasons \
                FROM charges WHERE id = $1::uuid";
    assert_eq!(
        owner_statement(&app, copy, id).await.as_deref(),
        Some("23505")
    );
    let bad = [
        "UPDATE charges SET modifiers = '{HN,HO,GT,59,76}' WHERE id = $1::uuid",
        "UPDATE charges SET diagnosis_codes = '{F84.0}', diagnosis_pointers = '{2}' WHERE id = $1::uuid",
        "UPDATE charges SET diagnosis_codes = '{84.0}' WHERE id = $1::uuid",
        "UPDATE charges SET units = 0, charge_cents = 0, cents_per_unit = NULL WHERE id = $1::uuid",
        "UPDATE charges SET charge_cents = -1, cents_per_unit = NULL WHERE id = $1::uuid",
        "UPDATE charges SET cpt_code = '97-153' WHERE id = $1::uuid",
        // READY with a hold, or without a diagnosis, is not a state.
        "UPDATE charges SET status = 'READY' WHERE id = $1::uuid",
        "UPDATE charges SET status = 'READY', hold_reasons = '{}' WHERE id = $1::uuid",
    ];
    for sql in bad {
        assert_eq!(
            owner_statement(&app, sql, id).await.as_deref(),
            Some("23514"),
            "{sql}"
        );
    }
    // Voided, the session may carry a new live charge (a re-bill); two voids may coexist.
    let void = "UPDATE charges SET status = 'VOID', void_reason = 'test', voided_at = now() \
                WHERE id = $1::uuid";
    assert_eq!(owner_statement(&app, void, id).await, None);
    assert_eq!(owner_statement(&app, copy, id).await, None);
}
