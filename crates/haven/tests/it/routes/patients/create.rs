//! `POST /api/patients` (and reading the result back): fields, unique MRNs, bad input.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::patients::{create, create_id, patient, patient_ids_audited};

#[tokio::test]
async fn an_admin_creates_and_reads_a_patient() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;

    let created = create(&app, &admin, &patient("MRN-001", "Castellano")).await;

    assert_eq!(created.status, StatusCode::CREATED);
    let body = created.json()["patient"].clone();
    for (field, value) in [
        ("firstName", "Avery"),
        ("lastName", "Castellano"),
        ("dateOfBirth", "2016-03-14"),
        ("medicalRecordNumber", "MRN-001"),
        ("phoneNumber", "+1 555 010 2233"),
        ("email", "avery.family@example.org"),
    ] {
        assert_eq!(body[field], value, "{field}");
    }
    assert!(body["createdAt"].is_string() && body["updatedAt"].is_string());
    let id = body["id"].as_str().expect("id");
    let read = app.get_as(&admin, &format!("/api/patients/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.json()["patient"], body);
    assert_eq!(
        patient_ids_audited(&app, admin.organization_id, "PATIENT_CREATE").await,
        vec![id.to_owned()]
    );
    assert_eq!(
        patient_ids_audited(&app, admin.organization_id, "PATIENT_READ").await,
        vec![id.to_owned()]
    );
}

#[tokio::test]
async fn an_mrn_is_unique_within_a_practice_and_free_across_practices() {
    let app = TestApp::new().await;
    let admin_a = app.org_with("Practice A", Role::Admin).await;
    let admin_b = app.org_with("Practice B", Role::Admin).await;
    create_id(&app, &admin_a, "MRN-77", "Lee").await;

    let duplicate = create(&app, &admin_a, &patient("mrn-77", "Other")).await;
    let elsewhere = create(&app, &admin_b, &patient("MRN-77", "Lee")).await;

    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.error_code(), "CONFLICT");
    assert_eq!(elsewhere.status, StatusCode::CREATED);
}

#[tokio::test]
async fn bad_patient_input_is_refused_by_field_and_nothing_is_written() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let other_org_user = app.org_with("Practice B", Role::Clinician).await;
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let base = patient("V-1", "Valid");
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    cases.push((with("dateOfBirth", json!("2016-02-30")), "dateOfBirth"));
    cases.push((with("dateOfBirth", json!("2999-01-01")), "dateOfBirth"));
    cases.push((with("firstName", json!("x".repeat(101))), "firstName"));
    cases.push((with("lastName", json!("")), "lastName"));
    cases.push((with("lastName", json!("Bad\u{0007}Name")), "lastName"));
    cases.push((
        with("medicalRecordNumber", json!("  ")),
        "medicalRecordNumber",
    ));
    cases.push((with("phoneNumber", json!("call me")), "phoneNumber"));
    cases.push((with("email", json!("not-an-email")), "email"));
    cases.push((with("userId", json!(other_org_user.id)), "userId"));
    cases.push((with("ssn", json!("123-45-6789")), "ssn"));
    cases.push((with("firstName", json!(42)), "firstName"));
    for (body, field) in cases {
        let response = create(&app, &admin, &body).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{field}");
        assert!(
            !response.json()["details"][field].is_null(),
            "{field}: {}",
            response.json()
        );
    }
    assert_eq!(
        app.get_as(&admin, "/api/patients/not-a-uuid").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get_as(&admin, "/api/patients?limit=101").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get_as(&admin, "/api/patients?mrn=%20").await.status,
        StatusCode::BAD_REQUEST
    );
    let owner = app.db().owner_pool().await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM patients")
        .fetch_one(&owner)
        .await
        .expect("count");
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn a_created_patient_keeps_its_shape() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;

    let created = create(&app, &admin, &patient("MRN-001", "Castellano")).await;

    assert_eq!(created.status, StatusCode::CREATED);
    insta::assert_json_snapshot!(created.json(), {
        ".patient.id" => "[id]",
        ".patient.createdAt" => "[timestamp]",
        ".patient.updatedAt" => "[timestamp]",
    });
}
