//! Correcting a completed session's units (`POST /api/authorizations/{id}/adjust` with
//! `sessionId`) re-derives its charge from the ledger in the same transaction: an open charge
//! changes, an exported one goes out again as a replacement (7), once, a correction to 0 voids
//! it (an exported one goes out as a void, 8).

use axum::http::StatusCode;
use haven_testkit::{TestApp, TestResponse, TestUser};
use serde_json::{Value, json};

use crate::fixtures::charges::{
    ChargeClinic, charge_clinic, charge_of, completed, download, export, exported, get, put_fees,
    ready,
};
use crate::fixtures::notes::text;
use crate::fixtures::post;
use crate::fixtures::units::{
    assert_ledger_balanced, audited, authorization, get_authorization, ledger_rows, reserved,
};

/// `POST /api/authorizations/{auth}/adjust` correcting `session` by `adjustment`, as `user`.
async fn correct(
    app: &TestApp,
    user: &TestUser,
    auth: &str,
    session: &str,
    adjustment: i64,
) -> TestResponse {
    post(
        app,
        user,
        &format!("/api/authorizations/{auth}/adjust"),
        json!({ "adjustment": adjustment, "reason": "units miscounted", "sessionId": session }),
    )
    .await
}

/// A charge clinic whose fee schedule bills 97153 at $10.00 a unit.
async fn priced_clinic(app: &TestApp, name: &str) -> ChargeClinic {
    let k = charge_clinic(app, name).await;
    let fees = put_fees(
        app,
        &k.c.billing,
        json!([{ "cptCode": "97153", "centsPerUnit": 1000, "effectiveFrom": "2020-01-01" }]),
    )
    .await;
    assert_eq!(fees.status, StatusCode::OK, "{}", text(&fees));
    k
}

fn session_of(charge: &Value) -> String {
    charge["sessionId"].as_str().expect("session").to_owned()
}

/// The (frequency code, units) of the lines of export `made`, read from its CSV.
async fn lines(app: &TestApp, user: &TestUser, made: &Value) -> Vec<(String, String, String)> {
    let file = download(app, user, &made["id"]).await;
    assert_eq!(file.status, StatusCode::OK, "{}", text(&file));
    let mut reader = csv::Reader::from_reader(file.body.as_ref());
    let headers = reader.headers().expect("headers").clone();
    let column = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let (id, code, units) = (column("chargeId"), column("frequencyCode"), column("units"));
    reader
        .records()
        .map(|r| r.expect("row"))
        .map(|r| (r[id].to_owned(), r[code].to_owned(), r[units].to_owned()))
        .collect()
}

#[tokio::test]
async fn a_correction_re_derives_the_open_charge_and_a_correction_to_zero_voids_it() {
    let app = TestApp::new().await;
    let k = priced_clinic(&app, "Practice A").await;
    let org = k.c.admin.organization_id;
    let session = completed(&app, &k, 3, 3).await;
    let charge = charge_of(&app, &k.c.billing, &session).await;
    assert_eq!(
        (charge["units"].clone(), charge["chargeCents"].clone()),
        (json!(3), json!(3000))
    );
    let used = get_authorization(&app, &k.c.admin, &k.auth).await["usedUnits"].clone();

    let down = correct(&app, &k.c.billing, &k.auth, &session, -1).await;

    assert_eq!(down.status, StatusCode::OK, "{}", text(&down));
    assert_eq!(
        down.json()["authorization"]["usedUnits"],
        used.as_i64().unwrap_or(0) - 1
    );
    let after = get(&app, &k.c.billing, &charge["id"]).await.json()["charge"].clone();
    assert_eq!(after["units"], 2);
    assert_eq!(after["ledgerUnits"], 2);
    assert_eq!(after["chargeCents"], 2000);
    assert_eq!(
        after["version"],
        charge["version"].as_i64().unwrap_or(0) + 1
    );
    assert_eq!(after["status"], "PENDING", "still held for its note");
    let up = correct(&app, &k.c.admin, &k.auth, &session, 2).await;
    assert_eq!(up.status, StatusCode::OK, "{}", text(&up));
    let after = get(&app, &k.c.billing, &charge["id"]).await.json()["charge"].clone();
    assert_eq!(
        (after["units"].clone(), after["chargeCents"].clone()),
        (json!(4), json!(4000))
    );
    let rows = ledger_rows(&app, &k.auth).await;
    assert_eq!(
        rows[rows.len() - 2..],
        [("ADJUST".to_owned(), -1), ("ADJUST".to_owned(), 2)]
    );
    let updates = audited(&app, org, "CHARGE_UPDATE").await;
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[0]["units"], json!({ "from": 3, "to": 2 }));
    assert_eq!(updates[0]["cause"], "unitCorrection");
    let adjusts = audited(&app, org, "AUTHORIZATION_ADJUST").await;
    assert_eq!(adjusts[0]["sessionId"], json!(session));

    let zero = correct(&app, &k.c.billing, &k.auth, &session, -4).await;

    assert_eq!(zero.status, StatusCode::OK, "{}", text(&zero));
    let voided = get(&app, &k.c.billing, &charge["id"]).await.json()["charge"].clone();
    assert_eq!(voided["status"], "VOID");
    assert_eq!(voided["units"], 4, "a void keeps the line it cancels");
    assert_eq!(audited(&app, org, "CHARGE_VOID").await.len(), 1);
    // A voided session is not billed again, whatever its units later become.
    let again = correct(&app, &k.c.billing, &k.auth, &session, 1).await;
    assert_eq!(again.status, StatusCode::OK, "{}", text(&again));
    let list = app
        .get_as(&k.c.billing, "/api/charges?limit=100")
        .await
        .json();
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["charges"][0]["status"], "VOID");
    assert_ledger_balanced(&app, org).await;
}

#[tokio::test]
async fn a_session_completed_with_no_units_gets_its_charge_when_corrected_up() {
    let app = TestApp::new().await;
    let k = priced_clinic(&app, "Practice A").await;
    let session = completed(&app, &k, 2, 0).await;
    let none = app.get_as(&k.c.billing, "/api/charges").await.json();
    assert_eq!(none["pagination"]["total"], 0);

    let up = correct(&app, &k.c.billing, &k.auth, &session, 2).await;

    assert_eq!(up.status, StatusCode::OK, "{}", text(&up));
    let charge = charge_of(&app, &k.c.billing, &session).await;
    assert_eq!(
        (charge["units"].clone(), charge["chargeCents"].clone()),
        (json!(2), json!(2000))
    );
    assert_eq!(charge["status"], "PENDING");
    let created = audited(&app, k.c.admin.organization_id, "CHARGE_CREATE").await;
    assert_eq!(
        created.last().map(|d| d["cause"].clone()),
        Some(json!("unitCorrection"))
    );
    assert_ledger_balanced(&app, k.c.admin.organization_id).await;
}

#[tokio::test]
async fn a_correction_of_a_foreign_open_or_overdrawn_session_is_refused_and_changes_nothing() {
    let app = TestApp::new().await;
    let k = priced_clinic(&app, "Practice A").await;
    let session = completed(&app, &k, 2, 2).await;
    let charge = charge_of(&app, &k.c.billing, &session).await;
    let other_auth = authorization(&app, &k.c.admin, &k.c.patient, 20).await;
    let open = reserved(&app, &k.c.admin, &k.auth, 1).await;
    // 7 of the 200 units left.
    let taken = post(
        &app,
        &k.c.billing,
        &format!("/api/authorizations/{}/adjust", k.auth),
        json!({ "adjustment": 190, "reason": "units used at another site" }),
    )
    .await;
    assert_eq!(taken.status, StatusCode::OK, "{}", text(&taken));
    let ledger_before = ledger_rows(&app, &k.auth).await;

    let other = correct(&app, &k.c.billing, &other_auth, &session, 1).await;
    let not_completed = correct(&app, &k.c.billing, &k.auth, &open, 1).await;
    let negative = correct(&app, &k.c.billing, &k.auth, &session, -3).await;
    let excessive = correct(&app, &k.c.billing, &k.auth, &session, 8).await;
    let beyond_a_day = correct(&app, &k.c.billing, &k.auth, &session, 500).await;
    let unknown = correct(
        &app,
        &k.c.billing,
        &k.auth,
        &uuid::Uuid::now_v7().to_string(),
        1,
    )
    .await;
    let malformed = post(
        &app,
        &k.c.billing,
        &format!("/api/authorizations/{}/adjust", k.auth),
        json!({ "adjustment": 1, "reason": "x", "sessionId": "not-a-uuid" }),
    )
    .await;

    assert_eq!(other.status, StatusCode::BAD_REQUEST, "{}", text(&other));
    assert_eq!(
        other.json()["details"]["sessionId"],
        "must be a session of this authorization"
    );
    assert_eq!(
        not_completed.status,
        StatusCode::CONFLICT,
        "{}",
        text(&not_completed)
    );
    assert_eq!(not_completed.error_code(), "INVALID_STATE");
    assert_eq!(negative.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        negative.json(),
        json!({
            "success": false, "error": "INVALID_ADJUSTMENT",
            "message": "Adjustment would result in negative session units",
        })
    );
    assert_eq!(
        excessive.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        text(&excessive)
    );
    assert_eq!(
        excessive.json()["message"],
        "Adjustment would exceed total units"
    );
    assert_eq!(
        beyond_a_day.status,
        StatusCode::BAD_REQUEST,
        "{}",
        text(&beyond_a_day)
    );
    assert!(beyond_a_day.json()["details"]["adjustment"].is_string());
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(ledger_rows(&app, &k.auth).await, ledger_before);
    assert!(ledger_rows(&app, &other_auth).await.is_empty());
    let kept = get(&app, &k.c.billing, &charge["id"]).await.json()["charge"].clone();
    assert_eq!(
        (kept["units"].clone(), kept["version"].clone()),
        (json!(2), charge["version"].clone())
    );
    assert_ledger_balanced(&app, k.c.admin.organization_id).await;
}

#[tokio::test]
async fn the_database_refuses_a_correction_of_an_open_session_or_below_zero_whoever_writes_it() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let session = completed(&app, &k, 2, 2).await;
    let open = reserved(&app, &k.c.admin, &k.auth, 1).await;
    let other_auth = authorization(&app, &k.c.admin, &k.c.patient, 20).await;
    let insert = |session: &str, authorization: &str, units: i32| {
        format!(
            "INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, reason) \
             SELECT organization_id, '{authorization}', id, 'ADJUST', {units}, 'x' \
             FROM therapy_sessions WHERE id = '{session}'"
        )
    };
    let owner = app.db().owner_pool().await;
    let mut refused = Vec::new();
    for sql in [
        insert(&open, &k.auth, 1),
        insert(&session, &k.auth, -3),
        insert(&session, &other_auth, 1),
    ] {
        let error = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&owner)
            .await
            .expect_err("refused");
        let code = error
            .as_database_error()
            .and_then(|e| e.code().map(|c| c.into_owned()));
        refused.push(code);
    }
    owner.close().await;

    assert_eq!(
        refused,
        [
            Some("23514".to_owned()),
            Some("23514".to_owned()),
            Some("23503".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_clinician_may_not_correct_a_session_and_the_attempt_is_audited() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let session = completed(&app, &k, 2, 2).await;
    let before = ledger_rows(&app, &k.auth).await;

    let refused = correct(&app, &k.c.author, &k.auth, &session, -1).await;

    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", text(&refused));
    assert_eq!(refused.error_code(), "FORBIDDEN");
    assert_eq!(ledger_rows(&app, &k.auth).await, before);
    assert_eq!(charge_of(&app, &k.c.billing, &session).await["units"], 2);
    assert!(
        !audited(&app, k.c.admin.organization_id, "ACCESS_DENIED")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn another_practice_cannot_correct_a_session_and_gets_an_audited_404() {
    let app = TestApp::new().await;
    let a = charge_clinic(&app, "Practice A").await;
    let b = charge_clinic(&app, "Practice B").await;
    let session = completed(&app, &a, 2, 2).await;
    let before = ledger_rows(&app, &a.auth).await;

    // A's authorization with A's session, and B's own authorization with A's session.
    let theirs = correct(&app, &b.c.billing, &a.auth, &session, 1).await;
    let smuggled = correct(&app, &b.c.billing, &b.auth, &session, 1).await;

    for response in [&theirs, &smuggled] {
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{}", text(response));
        assert_eq!(response.error_code(), "NOT_FOUND");
    }
    let attempts = audited(
        &app,
        b.c.admin.organization_id,
        "CROSS_TENANT_ACCESS_ATTEMPT",
    )
    .await;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(
        attempts
            .iter()
            .all(|d| d["targetOrganizationId"] == json!(a.c.admin.organization_id))
    );
    assert_eq!(ledger_rows(&app, &a.auth).await, before);
    assert!(ledger_rows(&app, &b.auth).await.is_empty());
    assert_eq!(charge_of(&app, &a.c.billing, &session).await["units"], 2);
}

#[tokio::test]
async fn an_exported_charge_corrected_goes_out_once_as_a_replacement_then_as_a_void() {
    let app = TestApp::new().await;
    let k = priced_clinic(&app, "Practice A").await;
    let charge = ready(&app, &k, 3).await;
    let id = charge["id"].as_str().expect("id").to_owned();
    let session = session_of(&charge);
    let first = exported(&app, &k.c.billing, "csv").await;
    assert_eq!(
        lines(&app, &k.c.billing, &first).await,
        [(id.clone(), "1".to_owned(), "3".to_owned())]
    );

    let corrected = correct(&app, &k.c.billing, &k.auth, &session, -1).await;
    assert_eq!(corrected.status, StatusCode::OK, "{}", text(&corrected));
    let read = get(&app, &k.c.billing, &charge["id"]).await.json()["charge"].clone();
    assert_eq!(read["status"], "EXPORTED");
    assert_eq!(
        (read["units"].clone(), read["chargeCents"].clone()),
        (json!(2), json!(2000))
    );
    assert_eq!(read["version"], charge["version"].as_i64().unwrap_or(0) + 1);
    let second = exported(&app, &k.c.billing, "csv").await;
    let third = export(&app, &k.c.billing, "csv").await;

    assert_eq!(second["chargeCount"], 1);
    assert_eq!(second["totalChargeCents"], 2000);
    assert_eq!(
        lines(&app, &k.c.billing, &second).await,
        [(id.clone(), "7".to_owned(), "2".to_owned())]
    );
    assert_eq!(
        third.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "nothing more is owed"
    );
    // One replacement per charge: a second correction to other units is refused...
    let twice = correct(&app, &k.c.billing, &k.auth, &session, 1).await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", text(&twice));
    assert_eq!(twice.error_code(), "INVALID_STATE");
    assert_eq!(
        get(&app, &k.c.billing, &charge["id"]).await.json()["charge"]["units"],
        2
    );
    // ...while a correction to 0 voids it, and the next export carries the void.
    let zero = correct(&app, &k.c.billing, &k.auth, &session, -2).await;
    assert_eq!(zero.status, StatusCode::OK, "{}", text(&zero));
    let fourth = exported(&app, &k.c.billing, "csv").await;
    assert_eq!(fourth["totalChargeCents"], 0, "a void bills nothing");
    assert_eq!(
        lines(&app, &k.c.billing, &fourth).await,
        [(id, "8".to_owned(), "2".to_owned())]
    );
    assert_ledger_balanced(&app, k.c.admin.organization_id).await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_optional_session_of_an_adjustment() {
    let app = TestApp::new().await;

    let doc = app.get("/api/openapi.json").await.json();

    let schema = &doc["components"]["schemas"]["AdjustAuthorization"];
    assert!(schema["properties"]["sessionId"].is_object(), "{schema}");
    let required = schema["required"].as_array().cloned().unwrap_or_default();
    assert!(
        !required.contains(&json!("sessionId")),
        "optional: {required:?}"
    );
}
