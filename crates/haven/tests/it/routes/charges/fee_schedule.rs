//! `PUT /api/fee-schedule`: effective-dated rates, overlaps refused by the database.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::charges::{charge_clinic, put_fees};
use crate::fixtures::notes::{owner_statement, text};

#[tokio::test]
async fn the_schedule_is_replaced_and_each_rate_runs_until_the_next_one_starts() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let first = put_fees(
        &app,
        &k.c.billing,
        json!([
            { "cptCode": "97153", "centsPerUnit": 1500, "effectiveFrom": "2020-01-01" },
        ]),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", text(&first));

    let response = put_fees(
        &app,
        &k.c.admin,
        json!([
            { "cptCode": "97153", "centsPerUnit": 2000, "effectiveFrom": "2026-01-01" },
            { "cptCode": "97153", "centsPerUnit": 1800, "effectiveFrom": "2025-01-01" },
            { "payerName": "Blue Harbor Health", "cptCode": "97153", "modifiers": ["hn"],
              "centsPerUnit": 2500, "effectiveFrom": "2025-01-01" },
        ]),
    )
    .await;

    assert_eq!(response.status, StatusCode::OK, "{}", text(&response));
    assert_eq!(
        response.json()["entries"],
        json!([
            { "payerName": null, "cptCode": "97153", "modifiers": [], "centsPerUnit": 1800,
              "effectiveFrom": "2025-01-01", "effectiveTo": "2026-01-01" },
            { "payerName": null, "cptCode": "97153", "modifiers": [], "centsPerUnit": 2000,
              "effectiveFrom": "2026-01-01", "effectiveTo": null },
            { "payerName": "Blue Harbor Health", "cptCode": "97153", "modifiers": ["HN"],
              "centsPerUnit": 2500, "effectiveFrom": "2025-01-01", "effectiveTo": null },
        ])
    );
    assert!(
        app.audited(k.c.admin.organization_id, "FEE_SCHEDULE_UPDATE")
            .await
    );
}

#[tokio::test]
async fn two_rates_of_one_payer_code_and_modifiers_from_the_same_day_are_refused_409() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    put_fees(
        &app,
        &k.c.billing,
        json!([
            { "cptCode": "97153", "centsPerUnit": 1500, "effectiveFrom": "2020-01-01" },
        ]),
    )
    .await;

    let response = put_fees(
        &app,
        &k.c.billing,
        json!([
            { "cptCode": "97153", "centsPerUnit": 1500, "effectiveFrom": "2025-01-01" },
            { "cptCode": "97153", "centsPerUnit": 1700, "effectiveFrom": "2025-01-01" },
        ]),
    )
    .await;

    assert_eq!(response.status, StatusCode::CONFLICT, "{}", text(&response));
    assert_eq!(response.error_code(), "CONFLICT");
    assert!(
        !text(&response).contains("fee_schedule"),
        "no database text"
    );
    // Nothing changed: the old schedule stands.
    let kept = put_fees(&app, &k.c.billing, json!([])).await;
    assert_eq!(kept.status, StatusCode::OK);
}

#[tokio::test]
async fn the_database_refuses_overlapping_periods_whoever_writes_them() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let org = k.c.admin.organization_id.to_string();
    let insert = "INSERT INTO fee_schedule (organization_id, cpt_code, cents_per_unit, effective) \
                  VALUES ($1::uuid, '97153', 100, daterange('2025-01-01', '2025-07-01'))";
    assert_eq!(owner_statement(&app, insert, &org).await, None);
    let overlapping = "INSERT INTO fee_schedule (organization_id, cpt_code, cents_per_unit, effective) \
                       VALUES ($1::uuid, '97153', 200, daterange('2025-06-01', NULL))";
    assert_eq!(
        owner_statement(&app, overlapping, &org).await.as_deref(),
        Some("23P01"),
        "exclusion_violation"
    );
    let negative = "INSERT INTO fee_schedule (organization_id, cpt_code, cents_per_unit, effective) \
                    VALUES ($1::uuid, '97154', -1, daterange('2025-01-01', NULL))";
    assert_eq!(
        owner_statement(&app, negative, &org).await.as_deref(),
        Some("23514")
    );
}

#[tokio::test]
async fn malformed_entries_answer_400_naming_each_field() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;

    let response = put_fees(
        &app,
        &k.c.billing,
        json!([
            { "cptCode": "97-153", "centsPerUnit": -5, "effectiveFrom": "2025-13-01",
              "modifiers": ["HN", "HO", "GT", "59", "76"] },
        ]),
    )
    .await;

    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        text(&response)
    );
    let details = response.json()["details"].clone();
    for field in ["cptCode", "centsPerUnit", "effectiveFrom", "modifiers"] {
        assert!(
            details.get(format!("entries[0].{field}")).is_some(),
            "{field}: {details}"
        );
    }
}

#[tokio::test]
async fn only_admin_and_billing_set_fees_and_a_clinician_gets_an_audited_403() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    for user in [&k.c.author, &k.c.scheduler, &k.c.compliance] {
        let response = put_fees(&app, user, json!([])).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN);
        assert_eq!(response.error_code(), "FORBIDDEN");
    }
    assert!(
        app.audited(k.c.admin.organization_id, "ACCESS_DENIED")
            .await
    );
}
