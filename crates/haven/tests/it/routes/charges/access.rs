//! Who may work with charges: ADMIN and BILLING of the practice; everyone else an audited 403;
//! another practice's charge a 404 audited as a cross-tenant attempt. Reads audited per patient.

use axum::http::{Method, StatusCode};
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::charges::{act, charge_clinic, charged, get, patch};
use crate::fixtures::notes::text;
use crate::fixtures::units::{audited, patient};

#[tokio::test]
async fn a_clinician_scheduler_or_compliance_officer_gets_an_audited_403_everywhere() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let charge = charged(&app, &k, 2, 2).await;
    let id = &charge["id"];
    for user in [&k.c.author, &k.c.scheduler, &k.c.compliance] {
        let list = app.get_as(user, "/api/charges").await;
        let read = get(&app, user, id).await;
        let change = patch(
            &app,
            user,
            id,
            &json!({ "placeOfService": "02", "expectedVersion": 1 }),
        )
        .await;
        let hold = act(&app, user, id, "hold", "why").await;
        let void = act(&app, user, id, "void", "why").await;
        for response in [list, read, change, hold, void] {
            assert_eq!(
                response.status,
                StatusCode::FORBIDDEN,
                "{}",
                text(&response)
            );
            assert_eq!(response.error_code(), "FORBIDDEN");
        }
    }
    let denied = audited(&app, k.c.admin.organization_id, "ACCESS_DENIED").await;
    assert!(denied.len() >= 15, "{denied:?}");
    let read = get(&app, &k.c.billing, id).await.json()["charge"].clone();
    assert_eq!(read["status"], charge["status"], "nothing changed");
    assert_eq!(read["version"], charge["version"]);
}

#[tokio::test]
async fn another_practices_charge_is_404_for_every_action_and_audited_as_cross_tenant() {
    let app = TestApp::new().await;
    let a = charge_clinic(&app, "Practice A").await;
    let b = charge_clinic(&app, "Practice B").await;
    let charge = charged(&app, &a, 2, 2).await;
    let id = &charge["id"];

    let read = get(&app, &b.c.billing, id).await;
    let change = patch(
        &app,
        &b.c.admin,
        id,
        &json!({ "placeOfService": "02", "expectedVersion": charge["version"] }),
    )
    .await;
    let hold = act(&app, &b.c.billing, id, "hold", "mine now").await;
    let void = act(&app, &b.c.admin, id, "void", "mine now").await;

    for response in [read, change, hold, void] {
        assert_eq!(
            response.status,
            StatusCode::NOT_FOUND,
            "{}",
            text(&response)
        );
        assert_eq!(response.error_code(), "NOT_FOUND");
    }
    let attempts = audited(
        &app,
        b.c.admin.organization_id,
        "CROSS_TENANT_ACCESS_ATTEMPT",
    )
    .await;
    assert_eq!(attempts.len(), 4);
    assert!(
        attempts
            .iter()
            .all(|d| d["targetOrganizationId"] == json!(a.c.admin.organization_id))
    );
    let listed = app.get_as(&b.c.billing, "/api/charges").await.json();
    assert_eq!(listed["pagination"]["total"], 0, "B lists none of A's");
    let kept = get(&app, &a.c.billing, id).await.json()["charge"].clone();
    assert_eq!(
        (kept["status"].clone(), kept["version"].clone()),
        (charge["status"].clone(), charge["version"].clone())
    );
}

#[tokio::test]
async fn reads_are_audited_per_patient_and_lists_filter() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let first = charged(&app, &k, 2, 2).await;
    // A second patient, payer and charge.
    let other = patient(&app, &k.c.admin, "MRN-CHARGES-2").await;
    let mut body = crate::fixtures::units::authorization_body(&other, 20);
    body["payerName"] = json!("Cedar Mutual");
    let auth = app
        .json_as(&k.c.admin, Method::POST, "/api/authorizations", &body)
        .await;
    assert_eq!(auth.status, StatusCode::CREATED);
    let k2 = crate::fixtures::charges::ChargeClinic {
        auth: auth.json()["authorization"]["id"]
            .as_str()
            .expect("id")
            .to_owned(),
        c: k.c,
    };
    charged(&app, &k2, 1, 1).await;
    let org = k2.c.admin.organization_id;
    let before = audited(&app, org, "CHARGE_LIST").await.len();

    let all = app.get_as(&k2.c.billing, "/api/charges").await.json();
    let cedar = app
        .get_as(&k2.c.billing, "/api/charges?payerName=Cedar%20Mutual")
        .await
        .json();
    let mine = app
        .get_as(
            &k2.c.billing,
            &format!("/api/charges?patientId={}&status=pending", k2.c.patient),
        )
        .await
        .json();
    let none = app
        .get_as(&k2.c.billing, "/api/charges?status=READY")
        .await
        .json();
    let dated = app
        .get_as(
            &k2.c.billing,
            &format!(
                "/api/charges?from={}&to={}",
                first["serviceDate"].as_str().expect("date"),
                first["serviceDate"].as_str().expect("date")
            ),
        )
        .await
        .json();
    let bad = app.get_as(&k2.c.billing, "/api/charges?status=PAID").await;
    let bad_date = app
        .get_as(&k2.c.billing, "/api/charges?from=yesterday")
        .await;

    assert_eq!(all["pagination"]["total"], 2);
    assert_eq!(cedar["pagination"]["total"], 1);
    assert_eq!(cedar["charges"][0]["patientId"], json!(other));
    assert_eq!(mine["pagination"]["total"], 1);
    assert_eq!(none["pagination"]["total"], 0);
    assert_eq!(dated["pagination"]["total"], 2);
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_date.status, StatusCode::BAD_REQUEST);
    // One CHARGE_LIST per patient shown: 2 + 1 + 1 + 0 + 2.
    assert_eq!(audited(&app, org, "CHARGE_LIST").await.len() - before, 6);
    get(&app, &k2.c.admin, &first["id"]).await;
    assert_eq!(audited(&app, org, "CHARGE_READ").await.len(), 1);
}
