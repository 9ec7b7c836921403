//! `POST /api/admin/btg/grants`: a grant audited critical; bad input creates nothing.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::btg::{WHY, audited, grant, grants_in_db, list, patient, text};
use crate::fixtures::post;

#[tokio::test]
async fn an_admin_grants_access_and_it_is_audited_critical_and_listed_with_names() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let patient = patient(&app, &admin, "BTG-1").await;

    let created = grant(&app, &admin, &clinician, &patient, 30).await;

    assert_eq!(created.status, StatusCode::CREATED, "{}", text(&created));
    let body = created.json();
    assert_eq!(body["success"], true);
    assert!(body["message"].is_string() && body["expiresAt"].is_string());
    let id = body["grantId"].as_str().expect("id");
    let rows = audited(&app, admin.organization_id, "BTG_GRANT_ACCESS").await;
    assert_eq!(rows.len(), 1);
    let (_, entity, audited_patient, details) = &rows[0];
    assert_eq!(entity.as_deref(), Some(id));
    assert_eq!(audited_patient.as_deref(), Some(patient.as_str()));
    assert_eq!(details["selfGrant"], false);
    assert_eq!(details["durationMinutes"], 30);
    assert!(
        details.get("justification").is_none(),
        "free text stays in the grant row"
    );

    let active = list(&app, &admin, "active").await;
    assert_eq!(active["count"], 1);
    let listed = &active["grants"][0];
    assert_eq!(listed["id"], id);
    assert_eq!(listed["grantedByUser"]["id"], json!(admin.id));
    assert_eq!(listed["grantedByUser"]["email"], admin.email.as_str());
    assert_eq!(listed["grantedToUser"]["id"], json!(clinician.id));
    assert_eq!(
        listed["patient"],
        json!({ "id": patient, "firstName": "Rowan", "lastName": "Achterberg", "medicalRecordNumber": "BTG-1" })
    );
    assert_eq!(listed["justification"], WHY);
    assert_eq!(listed["durationMinutes"], 30);
    for field in ["revokedAt", "revokedReason", "reviewedAt", "reviewOutcome"] {
        assert!(listed[field].is_null(), "{field}");
    }
    assert!(listed["createdAt"].is_string() && listed["expiresAt"].is_string());
    let reads = audited(&app, admin.organization_id, "PATIENT_LIST").await;
    assert_eq!(
        reads.len(),
        1,
        "the admin's read of the patient's name and MRN is audited"
    );
    assert_eq!(reads[0].2.as_deref(), Some(patient.as_str()));
}

#[tokio::test]
async fn bad_grant_input_is_a_400_by_field_and_creates_nothing() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let patient = patient(&app, &admin, "NEG-2").await;
    let base = json!({ "grantedToUserId": clinician.id, "patientId": patient, "justification": WHY, "durationMinutes": 60 });
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = base.clone();
        body.as_object_mut().expect("object").remove(field);
        body
    };
    let cases = [
        (without("justification"), "justification"),
        (
            with("justification", json!("Too short to explain an emergency")),
            "justification",
        ),
        (
            with("justification", json!(format!("{:<60}", "x"))),
            "justification",
        ),
        (
            with("justification", json!("x".repeat(2001))),
            "justification",
        ),
        (with("justification", json!(null)), "justification"),
        (with("durationMinutes", json!(45)), "durationMinutes"),
        (with("durationMinutes", json!(0)), "durationMinutes"),
        (with("durationMinutes", json!(-60)), "durationMinutes"),
        (with("durationMinutes", json!(525_600)), "durationMinutes"),
        (with("durationMinutes", json!(1e30)), "durationMinutes"),
        (with("durationMinutes", json!("60")), "durationMinutes"),
        (with("patientId", json!("not-a-uuid")), "patientId"),
        (without("grantedToUserId"), "grantedToUserId"),
        (
            with("expiresAt", json!("2999-01-01T00:00:00Z")),
            "expiresAt",
        ),
    ];

    for (body, field) in cases {
        let response = post(&app, &admin, "/api/admin/btg/grants", body).await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{field}: {}",
            text(&response)
        );
        assert_eq!(response.error_code(), "VALIDATION_ERROR");
        assert!(
            response.json()["details"][field].is_string(),
            "{field}: {}",
            text(&response)
        );
    }
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    let to_compliance = post(
        &app,
        &admin,
        "/api/admin/btg/grants",
        with("grantedToUserId", json!(compliance.id)),
    )
    .await;
    assert_eq!(to_compliance.status, StatusCode::BAD_REQUEST);
    assert_eq!(grants_in_db(&app).await, 0);
    assert!(
        audited(&app, admin.organization_id, "BTG_GRANT_ACCESS")
            .await
            .is_empty()
    );

    let defaulted = post(
        &app,
        &admin,
        "/api/admin/btg/grants",
        without("durationMinutes"),
    )
    .await;
    assert_eq!(
        defaulted.status,
        StatusCode::CREATED,
        "{}",
        text(&defaulted)
    );
    let twice = post(&app, &admin, "/api/admin/btg/grants", base.clone()).await;
    assert_eq!(
        twice.status,
        StatusCode::CONFLICT,
        "one active grant per user and patient"
    );
    assert_eq!(grants_in_db(&app).await, 1);
}
