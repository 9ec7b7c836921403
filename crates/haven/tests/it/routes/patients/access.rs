//! `/api/patients`: who sees what (every role, the care team), platform operators, and other
//! practices.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven::ids::OrganizationId;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::patients::{audited_for, create, create_id, patient, patient_ids_audited};

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

    let team = app
        .get_as(&clinician, &format!("/api/patients/{mine}/care-team"))
        .await;
    assert_eq!(team.status, StatusCode::OK);
    assert_eq!(team.json()["careTeam"][0]["userId"], json!(clinician.id));
    assert!(
        audited_for(&app, admin.organization_id, "PATIENT_READ")
            .await
            .contains(&json!({ "view": "care_team" })),
        "the care-team read is audited"
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
    // SPEC §3: the operator acts, audited, but sees no PHI: ids only.
    let shown = &read.json()["patient"];
    assert_eq!(shown["id"], json!(id));
    for field in [
        "firstName",
        "lastName",
        "dateOfBirth",
        "medicalRecordNumber",
    ] {
        assert_eq!(shown[field], "***", "{field} is masked");
    }
    assert!(shown.get("phoneNumber").is_none() && shown.get("email").is_none());
    assert!(
        !String::from_utf8_lossy(&read.body).contains("Bypass"),
        "no PHI in the body"
    );
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
    let attempts: Vec<_> = app
        .audit_events(admin.organization_id)
        .await
        .into_iter()
        .filter(|(action, _, _)| action == "CROSS_TENANT_ACCESS_ATTEMPT")
        .collect();
    assert_eq!(attempts.len(), 1, "the forged header is audited");
    assert_eq!(attempts[0].1, "denied");
}

#[tokio::test]
async fn a_platform_operator_in_a_practice_sees_no_phi_in_lists_or_writes() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let operator = app
        .user_in(OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;
    create_id(&app, &admin, "S-2", "Hidden").await;
    let acting = |method: Method, path: &str, body: serde_json::Value| {
        let mut request = haven_testkit::json_request(method, path, &body, Some(&operator.token));
        request.headers_mut().insert(
            "x-haven-organization",
            admin.organization_id.to_string().parse().expect("h"),
        );
        request
    };

    let list = app
        .send(acting(Method::GET, "/api/patients", json!(null)))
        .await;
    let created = app
        .send(acting(
            Method::POST,
            "/api/patients",
            json!({
                "firstName": "Opal", "lastName": "Operatorsmade", "dateOfBirth": "2012-02-02",
                "medicalRecordNumber": "S-3", "phoneNumber": "+1 555 010 9999"
            }),
        ))
        .await;

    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json()["patients"][0]["lastName"], "***");
    assert!(!String::from_utf8_lossy(&list.body).contains("Hidden"));
    assert_eq!(
        created.status,
        StatusCode::CREATED,
        "an admin action is allowed"
    );
    assert_eq!(created.json()["patient"]["firstName"], "***");
    let body = String::from_utf8_lossy(&created.body);
    assert!(!body.contains("Operatorsmade") && !body.contains("9999"));
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
