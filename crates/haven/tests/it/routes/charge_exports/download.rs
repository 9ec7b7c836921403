//! `GET /api/charge-exports/{id}/download`: CSV read back by a CSV parser, 837p-json validated
//! against the schema kept in the repository; audited; no note content.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::charges::{charge_clinic, completed, download, exported, ready, session_note};
use crate::fixtures::json_schema::{schema_837p, violations};
use crate::fixtures::notes::{sign, text};
use crate::fixtures::units::audited;

#[tokio::test]
async fn the_csv_has_one_row_per_line_and_reads_back_with_a_csv_parser() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let a = ready(&app, &k, 2).await;
    let b = ready(&app, &k, 3).await;
    let made = exported(&app, &k.c.billing, "csv").await;

    let file = download(&app, &k.c.billing, &made["id"]).await;

    assert_eq!(file.status, StatusCode::OK, "{}", text(&file));
    assert!(
        file.header("content-type")
            .unwrap_or_default()
            .starts_with("text/csv")
    );
    let mut reader = csv::Reader::from_reader(file.body.as_ref());
    let headers = reader.headers().expect("headers").clone();
    assert_eq!(&headers[0], "chargeId");
    assert_eq!(headers.len(), 18);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 2);
    let column = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let mut ids: Vec<&str> = rows.iter().map(|r| &r[column("chargeId")]).collect();
    ids.sort_unstable();
    let mut expected = vec![a["id"].as_str().expect("id"), b["id"].as_str().expect("id")];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    for row in &rows {
        assert_eq!(&row[column("frequencyCode")], "1");
        assert_eq!(&row[column("cptCode")], "97153");
        assert_eq!(&row[column("patientLastName")], "Okafor");
        assert_eq!(&row[column("patientFirstName")], "Robin");
        assert_eq!(&row[column("patientDateOfBirth")], "2017-05-02");
        assert_eq!(&row[column("memberId")], "BH-20391");
        assert_eq!(&row[column("diagnosisCodes")], "F84.0");
        assert_eq!(&row[column("diagnosisPointers")], "1");
        assert_eq!(&row[column("placeOfService")], "11");
    }
    let units: Vec<&str> = rows.iter().map(|r| &r[column("units")]).collect();
    assert!(units.contains(&"2") && units.contains(&"3"));
    let downloads = audited(&app, k.c.admin.organization_id, "CHARGE_EXPORT_DOWNLOAD").await;
    assert_eq!(
        downloads,
        vec![json!({ "format": "csv", "charges": 2 })],
        "one per patient"
    );
    // The same file every time.
    assert_eq!(
        download(&app, &k.c.admin, &made["id"]).await.body,
        file.body
    );
}

#[tokio::test]
async fn the_837p_json_validates_against_the_schema_and_groups_lines_into_claims() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    ready(&app, &k, 2).await;
    ready(&app, &k, 3).await;
    let made = exported(&app, &k.c.billing, "837p-json").await;

    let file = download(&app, &k.c.billing, &made["id"]).await;

    assert_eq!(file.status, StatusCode::OK, "{}", text(&file));
    assert_eq!(file.header("content-type"), Some("application/json"));
    let document: Value = serde_json::from_slice(&file.body).expect("JSON");
    let problems = violations(&schema_837p(), &document);
    assert!(problems.is_empty(), "{problems:#?}");
    let claims = document["claims"].as_array().expect("claims");
    assert_eq!(
        claims.len(),
        1,
        "one patient, payer, provider and authorization"
    );
    let claim = &claims[0];
    assert_eq!(claim["frequencyCode"], "1");
    assert_eq!(claim["payer"]["name"], "Blue Harbor Health");
    assert_eq!(claim["subscriber"]["memberId"], "BH-20391");
    assert_eq!(claim["patient"]["name"]["lastName"], "Okafor");
    assert_eq!(claim["renderingProvider"]["id"], json!(k.c.author.id));
    assert_eq!(claim["priorAuthorization"], json!(k.auth));
    assert_eq!(claim["diagnosisCodes"], json!(["F84.0"]));
    assert_eq!(claim["serviceLines"].as_array().map(Vec::len), Some(2));
    assert_eq!(claim["totalChargeCents"], made["totalChargeCents"]);
    assert_eq!(document["billingProvider"]["name"], "Practice A");
    // The validator catches what the schema forbids.
    let mut broken = document.clone();
    broken["claims"][0]["serviceLines"][0]["modifiers"] = json!(["HN", "HO", "GT", "59", "76"]);
    broken["claims"][0]["frequencyCode"] = json!("2");
    assert_eq!(violations(&schema_837p(), &broken).len(), 2);
}

#[tokio::test]
async fn psychotherapy_note_content_never_reaches_an_export() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    let session = completed(&app, &k, 2, 2).await;
    let secret = session_note(&app, &k, &session, "PSYCHOTHERAPY").await;
    assert_eq!(
        sign(&app, &k.c.author, &secret).await.status,
        StatusCode::OK
    );
    let progress = session_note(&app, &k, &session, "PROGRESS").await;
    assert_eq!(
        sign(&app, &k.c.author, &progress).await.status,
        StatusCode::OK
    );
    let made = exported(&app, &k.c.billing, "837p-json").await;

    let file = text(&download(&app, &k.c.billing, &made["id"]).await);

    for content in [
        "Reports better sleep",
        "Calm, engaged",
        "Improving",
        "Continue weekly",
    ] {
        assert!(!file.contains(content), "{content}");
    }
}
