//! `/api/admin/btg`: config, grants, lists by status, revocation, review. Shared helpers for the
//! other `btg_*` modules live here.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven::ids::OrganizationId;
use haven_testkit::{TestApp, TestResponse, TestUser};
use serde_json::{Value, json};

/// A justification long enough for the rules.
pub(crate) const WHY: &str =
    "Patient arrived unconscious at the ER; care team unreachable; allergies needed now";

/// Creates a patient (as `admin`) and returns its id.
pub(crate) async fn patient(app: &TestApp, admin: &TestUser, mrn: &str) -> String {
    let response = app
        .json_as(
            admin,
            Method::POST,
            "/api/patients",
            &json!({
                "firstName": "Rowan", "lastName": "Achterberg", "dateOfBirth": "2012-07-01",
                "medicalRecordNumber": mrn, "phoneNumber": "+1 555 010 4455",
            }),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    response.json()["patient"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

pub(crate) fn text(response: &TestResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

/// `POST /api/admin/btg/grants` as `admin`.
pub(crate) async fn grant(
    app: &TestApp,
    admin: &TestUser,
    to: &TestUser,
    patient: &str,
    minutes: i64,
) -> TestResponse {
    app.json_as(
        admin,
        Method::POST,
        "/api/admin/btg/grants",
        &json!({
            "grantedToUserId": to.id, "patientId": patient,
            "justification": WHY, "durationMinutes": minutes,
        }),
    )
    .await
}

/// A grant that must succeed; its id.
pub(crate) async fn grant_id(
    app: &TestApp,
    admin: &TestUser,
    to: &TestUser,
    patient: &str,
) -> String {
    let response = grant(app, admin, to, patient, 60).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    response.json()["grantId"]
        .as_str()
        .expect("grantId")
        .to_owned()
}

/// `(access_method, entity_id, patient_id, details)` of `org`'s events `action`, in order.
pub(crate) async fn audited(
    app: &TestApp,
    org: OrganizationId,
    action: &str,
) -> Vec<(String, Option<String>, Option<String>, Value)> {
    let owner = app.db().owner_pool().await;
    let rows = sqlx::query_as(
        "SELECT access_method, entity_id, patient_id::text, details FROM ( \
             SELECT id, action, access_method, entity_id, patient_id, details FROM audit_outbox WHERE organization_id = $1 \
             UNION ALL \
             SELECT id, action, access_method, entity_id, patient_id, details FROM audit_log WHERE organization_id = $1 \
         ) e WHERE action = $2 ORDER BY id",
    )
    .bind(org)
    .bind(action)
    .fetch_all(&owner)
    .await
    .expect("audit rows");
    owner.close().await;
    rows
}

/// Runs `sql` as the owner (bypassing the app's column privileges), with `$1` = `grant`.
pub(crate) async fn as_owner(app: &TestApp, sql: &'static str, grant: &str) {
    let owner = app.db().owner_pool().await;
    sqlx::query(sql)
        .bind(uuid::Uuid::parse_str(grant).expect("uuid"))
        .execute(&owner)
        .await
        .expect("owner statement");
    owner.close().await;
}

/// Makes `grant` lapse now, as if its time had run out.
pub(crate) async fn expire(app: &TestApp, grant: &str) {
    as_owner(
        app,
        "UPDATE btg_grants SET created_at = now() - interval '2 hours', \
             expires_at = now() - interval '1 second' WHERE id = $1",
        grant,
    )
    .await;
}

pub(crate) async fn list(app: &TestApp, user: &TestUser, status: &str) -> Value {
    let response = app
        .get_as(user, &format!("/api/admin/btg/grants?status={status}"))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", text(&response));
    response.json()
}

#[tokio::test]
async fn the_config_names_the_allowed_durations_and_the_minimum_justification() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;

    let config = app.get_as(&admin, "/api/admin/btg/config").await;
    let refused = app.get_as(&clinician, "/api/admin/btg/config").await;

    assert_eq!(config.status, StatusCode::OK);
    assert_eq!(
        config.json(),
        json!({
            "allowedDurationsMinutes": [15, 30, 60, 120, 240, 480],
            "defaultDurationMinutes": 60,
            "minJustificationLength": 50,
        })
    );
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

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
async fn compliance_sees_grants_with_patient_ids_only_and_no_phi_read_is_recorded() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    let patient = patient(&app, &admin, "BTG-2").await;
    grant_id(&app, &admin, &clinician, &patient).await;

    let all = list(&app, &compliance, "all").await;

    assert_eq!(all["count"], 1);
    assert_eq!(all["grants"][0]["patient"], json!({ "id": patient }));
    assert_eq!(all["grants"][0]["grantedToUser"]["id"], json!(clinician.id));
    assert!(!all.to_string().contains("Achterberg") && !all.to_string().contains("BTG-2"));
    assert!(
        audited(&app, admin.organization_id, "PATIENT_LIST")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn lists_filter_by_status_and_revocation_answers_the_spec_message() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let first = patient(&app, &admin, "BTG-3").await;
    let second = patient(&app, &admin, "BTG-4").await;
    let revoked = grant_id(&app, &admin, &clinician, &first).await;
    let lapsed = grant_id(&app, &admin, &clinician, &second).await;
    expire(&app, &lapsed).await;

    let revoke = app
        .json_as(
            &admin,
            Method::POST,
            &format!("/api/admin/btg/grants/{revoked}/revoke"),
            &json!({ "reason": "Emergency over; patient stable" }),
        )
        .await;

    assert_eq!(revoke.status, StatusCode::OK, "{}", text(&revoke));
    assert_eq!(
        revoke.json(),
        json!({ "success": true, "message": "Emergency access revoked successfully" })
    );
    assert_eq!(list(&app, &admin, "active").await["count"], 0);
    let revoked_list = list(&app, &admin, "revoked").await;
    assert_eq!(revoked_list["count"], 1);
    assert_eq!(revoked_list["grants"][0]["id"], revoked.as_str());
    assert_eq!(
        revoked_list["grants"][0]["revokedReason"],
        "Emergency over; patient stable"
    );
    assert!(revoked_list["grants"][0]["revokedAt"].is_string());
    let expired = list(&app, &admin, "expired").await;
    assert_eq!(expired["count"], 1);
    assert_eq!(expired["grants"][0]["id"], lapsed.as_str());
    assert_eq!(list(&app, &admin, "all").await["count"], 2);
    let rows = audited(&app, admin.organization_id, "BTG_REVOKE_ACCESS").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1.as_deref(), Some(revoked.as_str()));
}
