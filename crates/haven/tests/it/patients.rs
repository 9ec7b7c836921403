//! `/api/patients`: create, list, get, update, delete; who sees what; other tenants; bad input.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven::ids::OrganizationId;
use haven_testkit::{TestApp, TestUser};
use serde_json::{Value, json};

fn patient(mrn: &str, last: &str) -> Value {
    json!({
        "firstName": "Avery",
        "lastName": last,
        "dateOfBirth": "2016-03-14",
        "medicalRecordNumber": mrn,
        "phoneNumber": "+1 555 010 2233",
        "email": "avery.family@example.org",
    })
}

async fn create(app: &TestApp, user: &TestUser, body: &Value) -> haven_testkit::TestResponse {
    app.json_as(user, Method::POST, "/api/patients", body).await
}

async fn create_id(app: &TestApp, admin: &TestUser, mrn: &str, last: &str) -> String {
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

async fn audited_for(app: &TestApp, org: OrganizationId, action: &str) -> Vec<Value> {
    app.audit_events(org)
        .await
        .into_iter()
        .filter(|(a, _, _)| a == action)
        .map(|(_, _, details)| details)
        .collect()
}

async fn patient_ids_audited(app: &TestApp, org: OrganizationId, action: &str) -> Vec<String> {
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

    let listed = patient_ids_audited(&app, admin.organization_id, "PATIENT_LIST").await;
    assert_eq!(listed.len(), 2 + 1 + 1, "one row per patient returned");
    assert!(listed.contains(&first) && listed.contains(&second));
}

#[tokio::test]
async fn clinicians_see_only_their_care_team_patients() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let mine = create_id(&app, &admin, "C-1", "Mine").await;
    let other = create_id(&app, &admin, "C-2", "Other").await;
    let added = app
        .json_as(
            &admin,
            Method::POST,
            &format!("/api/patients/{mine}/care-team"),
            &json!({ "userId": clinician.id }),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED);
    assert!(
        audited_for(&app, admin.organization_id, "CARE_TEAM_ADD")
            .await
            .len()
            == 1
    );

    let list = app.get_as(&clinician, "/api/patients").await.json();
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["patients"][0]["id"], json!(mine));
    assert_eq!(
        app.get_as(&clinician, &format!("/api/patients/{mine}"))
            .await
            .status,
        StatusCode::OK
    );
    let hidden = app
        .get_as(&clinician, &format!("/api/patients/{other}"))
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let denied = patient_ids_audited(&app, admin.organization_id, "ACCESS_DENIED").await;
    assert_eq!(denied, vec![other.clone()]);

    let update = app
        .json_as(
            &clinician,
            Method::PATCH,
            &format!("/api/patients/{mine}"),
            &json!({ "phoneNumber": "555 010 7777" }),
        )
        .await;
    assert_eq!(update.status, StatusCode::OK);
    assert_eq!(update.json()["patient"]["phoneNumber"], "555 010 7777");
    for (method, path) in [
        (Method::POST, "/api/patients".to_owned()),
        (Method::DELETE, format!("/api/patients/{mine}")),
        (Method::POST, format!("/api/patients/{mine}/care-team")),
    ] {
        let body = if method == Method::POST && path.ends_with("patients") {
            patient("C-3", "X")
        } else {
            json!({ "userId": clinician.id })
        };
        let response = app.json_as(&clinician, method, &path, &body).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{path}");
    }

    let removed = app
        .json_as(
            &admin,
            Method::DELETE,
            &format!("/api/patients/{mine}/care-team/{}", clinician.id),
            &json!({}),
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_as(&clinician, &format!("/api/patients/{mine}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        audited_for(&app, admin.organization_id, "CARE_TEAM_REMOVE")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn billing_sees_name_date_of_birth_and_mrn_only_and_changes_nothing() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let billing = app.user_in(admin.organization_id, Role::Billing).await;
    let id = create_id(&app, &admin, "B-1", "Ferreira").await;

    let read = app
        .get_as(&billing, &format!("/api/patients/{id}"))
        .await
        .json()["patient"]
        .clone();
    let mut keys: Vec<&str> = read
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec![
            "dateOfBirth",
            "firstName",
            "id",
            "lastName",
            "medicalRecordNumber"
        ]
    );
    let listed = app.get_as(&billing, "/api/patients").await.json();
    assert!(
        listed["patients"][0].get("phoneNumber").is_none()
            && listed["patients"][0].get("email").is_none()
    );

    let update = app
        .json_as(
            &billing,
            Method::PATCH,
            &format!("/api/patients/{id}"),
            &json!({ "lastName": "X" }),
        )
        .await;
    assert_eq!(update.status, StatusCode::FORBIDDEN);
    assert_eq!(
        create(&app, &billing, &patient("B-2", "Y")).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn compliance_and_platform_operators_outside_a_practice_see_no_patients() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    let operator = app
        .user_in(OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;
    let id = create_id(&app, &admin, "N-1", "Hidden").await;

    for user in [&compliance, &operator] {
        assert_eq!(
            app.get_as(user, "/api/patients").await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.get_as(user, &format!("/api/patients/{id}"))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            create(&app, user, &patient("N-2", "Z")).await.status,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        audited_for(&app, admin.organization_id, "ACCESS_DENIED")
            .await
            .len(),
        3
    );
}

#[tokio::test]
async fn a_platform_operator_acting_in_a_practice_is_audited_first() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let operator = app
        .user_in(OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;
    let id = create_id(&app, &admin, "S-1", "Bypass").await;

    let mut request = haven_testkit::request(
        Method::GET,
        &format!("/api/patients/{id}"),
        axum::body::Body::empty(),
    );
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", operator.token).parse().expect("h"),
    );
    request.headers_mut().insert(
        "x-haven-organization",
        admin.organization_id.to_string().parse().expect("h"),
    );
    let read = app.send(request).await;

    assert_eq!(read.status, StatusCode::OK);
    let events = app.audit_events(admin.organization_id).await;
    let bypass = events
        .iter()
        .position(|(a, _, _)| a == "SUPER_ADMIN_BYPASS")
        .expect("bypass audited");
    let patient_read = events
        .iter()
        .position(|(a, _, _)| a == "PATIENT_READ")
        .expect("read audited");
    assert!(bypass < patient_read, "the bypass is recorded first");

    let mut forged =
        haven_testkit::request(Method::GET, "/api/patients", axum::body::Body::empty());
    forged.headers_mut().insert(
        "authorization",
        format!("Bearer {}", admin.token).parse().expect("h"),
    );
    forged.headers_mut().insert(
        "x-haven-organization",
        OrganizationId::new().to_string().parse().expect("h"),
    );
    assert_eq!(
        app.send(forged).await.status,
        StatusCode::FORBIDDEN,
        "only operators may act elsewhere"
    );
}

#[tokio::test]
async fn another_practice_gets_404_on_every_patient_endpoint_and_is_audited() {
    let app = TestApp::new().await;
    let admin_a = app.org_with("Practice A", Role::Admin).await;
    let admin_b = app.org_with("Practice B", Role::Admin).await;
    let clinician_a = app.user_in(admin_a.organization_id, Role::Clinician).await;
    let id = create_id(&app, &admin_a, "T-1", "Tenant").await;
    let calls = [
        (Method::GET, format!("/api/patients/{id}"), json!(null)),
        (
            Method::PATCH,
            format!("/api/patients/{id}"),
            json!({ "lastName": "Stolen" }),
        ),
        (Method::DELETE, format!("/api/patients/{id}"), json!(null)),
        (
            Method::GET,
            format!("/api/patients/{id}/care-team"),
            json!(null),
        ),
        (
            Method::POST,
            format!("/api/patients/{id}/care-team"),
            json!({ "userId": clinician_a.id }),
        ),
        (
            Method::DELETE,
            format!("/api/patients/{id}/care-team/{}", clinician_a.id),
            json!(null),
        ),
    ];

    for (method, path, body) in &calls {
        let response = app.json_as(&admin_b, method.clone(), path, body).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{method} {path}");
    }

    let attempts = audited_for(&app, admin_b.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT").await;
    assert_eq!(attempts.len(), calls.len());
    assert!(
        attempts
            .iter()
            .all(|d| d["targetOrganizationId"] == json!(admin_a.organization_id))
    );
    let still = app
        .get_as(&admin_a, &format!("/api/patients/{id}"))
        .await
        .json();
    assert_eq!(still["patient"]["lastName"], "Tenant");
    assert_eq!(
        app.get_as(&admin_b, "/api/patients").await.json()["pagination"]["total"],
        0
    );
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
