//! Using an emergency grant: what its holder may do, how every use is audited, and how expiry
//! and revocation end it at once; the expiry job.

use axum::http::{Method, StatusCode};
use haven::btg::expiry;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::btg::{as_owner, audited, expire, grant_id, patient, text};
use crate::fixtures::metrics::{scrape, value};

#[tokio::test]
async fn a_clinician_off_the_care_team_reads_and_updates_through_a_grant_and_each_use_is_audited() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let patient = patient(&app, &admin, "USE-1").await;
    let path = format!("/api/patients/{patient}");
    assert_eq!(
        app.get_as(&clinician, &path).await.status,
        StatusCode::NOT_FOUND
    );
    let grant = grant_id(&app, &admin, &clinician, &patient).await;
    let (_, scraped) = scrape(&app).await;
    let uses_before = value(
        &scraped,
        "haven_btg_events_total",
        &[("action", "BTG_USE_ACCESS")],
    );

    let read = app.get_as(&clinician, &path).await;
    let update = app
        .json_as(
            &clinician,
            Method::PATCH,
            &path,
            &json!({ "phoneNumber": "+1 555 010 9999" }),
        )
        .await;
    let team = app
        .get_as(&clinician, &format!("/api/patients/{patient}/care-team"))
        .await;
    let list = app.get_as(&clinician, "/api/patients").await;

    assert_eq!(read.status, StatusCode::OK, "{}", text(&read));
    assert_eq!(read.json()["patient"]["lastName"], "Achterberg");
    assert_eq!(read.json()["patient"]["phoneNumber"], "+1 555 010 4455");
    assert_eq!(update.status, StatusCode::OK, "{}", text(&update));
    assert_eq!(team.status, StatusCode::OK);
    assert_eq!(
        list.json()["pagination"]["total"],
        0,
        "a grant does not put its patient in the holder's list"
    );
    let uses = audited(&app, admin.organization_id, "BTG_USE_ACCESS").await;
    assert_eq!(uses.len(), 3, "one per request through the grant");
    for (method, entity, audited_patient, details) in &uses {
        assert_eq!(method, "break_the_glass");
        assert_eq!(entity.as_deref(), Some(grant.as_str()));
        assert_eq!(audited_patient.as_deref(), Some(patient.as_str()));
        assert_eq!(details["grantId"], grant.as_str());
    }
    for action in ["PATIENT_READ", "PATIENT_UPDATE"] {
        let rows = audited(&app, admin.organization_id, action).await;
        let last = rows.last().expect("audited");
        assert_eq!(
            last.0, "break_the_glass",
            "{action} carries the access method"
        );
    }
    let (_, scraped) = scrape(&app).await;
    assert!(
        value(
            &scraped,
            "haven_btg_events_total",
            &[("action", "BTG_USE_ACCESS")]
        ) >= uses_before + 3.0
    );
}

#[tokio::test]
async fn a_grant_that_expires_mid_session_stops_working_on_the_next_request() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let patient = patient(&app, &admin, "USE-2").await;
    let path = format!("/api/patients/{patient}");
    let grant = grant_id(&app, &admin, &clinician, &patient).await;
    assert_eq!(app.get_as(&clinician, &path).await.status, StatusCode::OK);

    expire(&app, &grant).await;
    let after = app.get_as(&clinician, &path).await;
    let update = app
        .json_as(
            &clinician,
            Method::PATCH,
            &path,
            &json!({ "firstName": "Other" }),
        )
        .await;

    assert_eq!(after.status, StatusCode::NOT_FOUND);
    assert_eq!(update.status, StatusCode::NOT_FOUND);
    assert_eq!(
        audited(&app, admin.organization_id, "BTG_USE_ACCESS")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_revoked_grant_stops_working_at_once() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let patient = patient(&app, &admin, "USE-3").await;
    let path = format!("/api/patients/{patient}");
    let grant = grant_id(&app, &admin, &clinician, &patient).await;
    assert_eq!(app.get_as(&clinician, &path).await.status, StatusCode::OK);

    let revoke = app
        .json_as(
            &admin,
            Method::POST,
            &format!("/api/admin/btg/grants/{grant}/revoke"),
            &json!({ "reason": "Patient transferred" }),
        )
        .await;

    assert_eq!(revoke.status, StatusCode::OK);
    assert_eq!(
        app.get_as(&clinician, &path).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn billing_sees_the_whole_record_through_a_grant_and_an_admin_self_grant_is_flagged_and_loud()
{
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let billing = app.user_in(admin.organization_id, Role::Billing).await;
    let patient = patient(&app, &admin, "USE-4").await;
    let path = format!("/api/patients/{patient}");
    assert!(app.get_as(&billing, &path).await.json()["patient"]["phoneNumber"].is_null());

    grant_id(&app, &admin, &billing, &patient).await;
    let self_grant = grant_id(&app, &admin, &admin, &patient).await;
    let billing_read = app.get_as(&billing, &path).await;
    let admin_read = app.get_as(&admin, &path).await;

    assert_eq!(
        billing_read.json()["patient"]["phoneNumber"],
        "+1 555 010 4455"
    );
    assert_eq!(admin_read.status, StatusCode::OK);
    let grants = audited(&app, admin.organization_id, "BTG_GRANT_ACCESS").await;
    assert_eq!(grants[1].3["selfGrant"], true);
    let uses = audited(&app, admin.organization_id, "BTG_USE_ACCESS").await;
    assert_eq!(uses.len(), 2);
    assert_eq!(uses[1].1.as_deref(), Some(self_grant.as_str()));
}

#[tokio::test]
async fn the_expiry_job_records_each_lapsed_grant_once_and_skips_revoked_ones() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let first = patient(&app, &admin, "USE-5").await;
    let second = patient(&app, &admin, "USE-6").await;
    let third = patient(&app, &admin, "USE-7").await;
    let lapsed = grant_id(&app, &admin, &clinician, &first).await;
    let revoked = grant_id(&app, &admin, &clinician, &second).await;
    grant_id(&app, &admin, &clinician, &third).await;
    expire(&app, &lapsed).await;
    as_owner(
        &app,
        "UPDATE btg_grants SET revoked_at = now() - interval '1 hour', revoked_by_user_id = granted_by_user_id, \
             revoked_reason = 'done', created_at = now() - interval '3 hours', expires_at = now() - interval '1 minute' \
         WHERE id = $1",
        &revoked,
    )
    .await;
    let pool = app.db().app_pool().await;

    let first_pass = expiry::record_expired(&pool).await.expect("pass");
    let second_pass = expiry::record_expired(&pool).await.expect("pass");

    assert_eq!(first_pass, 1, "the lapsed grant is recorded");
    assert_eq!(second_pass, 0);
    let rows = audited(&app, admin.organization_id, "BTG_EXPIRED").await;
    assert_eq!(rows.len(), 1);
    let (method, entity, audited_patient, details) = &rows[0];
    assert_eq!(method, "system");
    assert_eq!(entity.as_deref(), Some(lapsed.as_str()));
    assert_eq!(audited_patient.as_deref(), Some(first.as_str()));
    assert_eq!(details["grantedToUserId"], json!(clinician.id));
}

#[tokio::test]
async fn the_app_role_cannot_extend_or_rewrite_a_grant() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let patient = patient(&app, &admin, "USE-8").await;
    let grant = grant_id(&app, &admin, &clinician, &patient).await;
    let pool = app.db().app_pool().await;
    let mut tx = pool
        .begin_tenant(admin.organization_id, None)
        .await
        .expect("tx");

    let extended = sqlx::query(
        "UPDATE btg_grants SET expires_at = expires_at + interval '1 day' WHERE id = $1",
    )
    .bind(uuid::Uuid::parse_str(&grant).expect("uuid"))
    .execute(tx.conn())
    .await;

    let error = extended.expect_err("no UPDATE privilege on expires_at");
    assert!(error.to_string().contains("permission denied"), "{error}");
}
