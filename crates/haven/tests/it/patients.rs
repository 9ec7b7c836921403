//! `/api/patients`: create, list, get, update, delete; who sees what; other tenants; bad input.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven::ids::OrganizationId;
use haven_testkit::{TestApp, TestUser};
use serde_json::{Value, json};

pub(crate) fn patient(mrn: &str, last: &str) -> Value {
    json!({
        "firstName": "Avery",
        "lastName": last,
        "dateOfBirth": "2016-03-14",
        "medicalRecordNumber": mrn,
        "phoneNumber": "+1 555 010 2233",
        "email": "avery.family@example.org",
    })
}

pub(crate) async fn create(
    app: &TestApp,
    user: &TestUser,
    body: &Value,
) -> haven_testkit::TestResponse {
    app.json_as(user, Method::POST, "/api/patients", body).await
}

pub(crate) async fn create_id(app: &TestApp, admin: &TestUser, mrn: &str, last: &str) -> String {
    let response = create(app, admin, &patient(mrn, last)).await;
    assert_eq!(
        response.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    response.json()["patient"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

pub(crate) async fn audited_for(app: &TestApp, org: OrganizationId, action: &str) -> Vec<Value> {
    app.audit_events(org)
        .await
        .into_iter()
        .filter(|(a, _, _)| a == action)
        .map(|(_, _, details)| details)
        .collect()
}

pub(crate) async fn patient_ids_audited(
    app: &TestApp,
    org: OrganizationId,
    action: &str,
) -> Vec<String> {
    let owner = app.db().owner_pool().await;
    sqlx::query_scalar(
        "SELECT patient_id::text FROM (SELECT id, action, patient_id FROM audit_outbox WHERE organization_id = $1 \
         UNION ALL SELECT id, action, patient_id FROM audit_log WHERE organization_id = $1) e \
         WHERE action = $2 ORDER BY id",
    )
    .bind(org)
    .bind(action)
    .fetch_all(&owner)
    .await
    .expect("audit")
}

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
async fn lists_find_exact_mrns_and_last_names_case_insensitively_and_audit_each_patient() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let first = create_id(&app, &admin, "AB-100", "Okonkwo").await;
    let second = create_id(&app, &admin, "AB-200", "Okonkwo").await;
    create_id(&app, &admin, "AB-300", "Nakamura").await;

    let by_name = app
        .get_as(&admin, "/api/patients?lastName=%20OKONKWO%20")
        .await
        .json();
    assert_eq!(by_name["pagination"]["total"], 2);
    let ids: Vec<&str> = by_name["patients"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec![first.as_str(), second.as_str()]);
    let by_mrn = app.get_as(&admin, "/api/patients?mrn=ab-200").await.json();
    assert_eq!(by_mrn["patients"][0]["id"], json!(second));
    let partial = app
        .get_as(&admin, "/api/patients?lastName=Okon")
        .await
        .json();
    assert_eq!(partial["pagination"]["total"], 0, "exact matches only");
    let page = app
        .get_as(&admin, "/api/patients?limit=2&page=2")
        .await
        .json();
    assert_eq!(
        page["pagination"],
        json!({ "page": 2, "limit": 2, "total": 3, "totalPages": 2 })
    );
    let beyond = app
        .get_as(&admin, "/api/patients?limit=2&page=9")
        .await
        .json();
    assert_eq!(
        beyond["patients"],
        json!([]),
        "a page past the end is empty"
    );
    assert_eq!(
        beyond["pagination"]["total"], 3,
        "...and still counts the set"
    );

    let listed = patient_ids_audited(&app, admin.organization_id, "PATIENT_LIST").await;
    assert_eq!(listed.len(), 2 + 1 + 1, "one row per patient returned");
    assert!(listed.contains(&first) && listed.contains(&second));
}

#[tokio::test]
async fn updates_and_soft_deletes_are_audited() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let id = create_id(&app, &admin, "U-1", "Before").await;

    let updated = app
        .json_as(
            &admin,
            Method::PATCH,
            &format!("/api/patients/{id}"),
            &json!({ "lastName": "After", "email": null }),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    let body = updated.json()["patient"].clone();
    assert_eq!(
        (body["lastName"].as_str(), body["email"].is_null()),
        (Some("After"), true)
    );
    assert_eq!(
        app.get_as(&admin, "/api/patients?lastName=after")
            .await
            .json()["pagination"]["total"],
        1
    );
    let fields = audited_for(&app, admin.organization_id, "PATIENT_UPDATE").await;
    assert_eq!(fields, vec![json!({ "fields": ["lastName", "email"] })]);

    let deleted = app
        .json_as(
            &admin,
            Method::DELETE,
            &format!("/api/patients/{id}"),
            &json!(null),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_as(&admin, &format!("/api/patients/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get_as(&admin, "/api/patients").await.json()["pagination"]["total"],
        0
    );
    assert_eq!(
        patient_ids_audited(&app, admin.organization_id, "PATIENT_DELETE").await,
        vec![id]
    );
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
