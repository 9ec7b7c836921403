//! The breach detector's rules, each crossed through the real API and kept just below, its
//! de-duplication, its crash safety, its evidence and its signals.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven::security::detector;
use haven_testkit::{PASSWORD, TestApp};
use serde_json::json;

use crate::fixtures::metrics::{scrape, value};
use crate::fixtures::security::{
    always_open, business_hours, configure, detect, failed_login, incidents, of_kind, patients,
    read_patient,
};
use crate::fixtures::users::new_user;

/// What the patient fixture sends: none of it may appear in evidence.
const PHI_MARKERS: [&str; 7] = [
    "Avery",
    "Quintero",
    "MRN-BD",
    "2016-03-14",
    "555",
    "avery.family",
    "dateOfBirth",
];

#[tokio::test]
async fn more_than_20_patients_in_a_minute_open_one_high_incident_without_phi() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    always_open(&app, &admin).await;
    let ids = patients(&app, &admin, 21).await;
    let (_, before) = scrape(&app).await;
    for id in &ids {
        read_patient(&app, &admin, id).await;
    }

    let report = detect(&app).await;

    let found = incidents(&app, admin.organization_id).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let incident = &found[0];
    assert_eq!(incident.rule_kind, "EXCESSIVE_PHI_ACCESS");
    assert_eq!(incident.severity, "HIGH");
    assert_eq!(incident.subject_user_id, Some(admin.id.as_uuid()));
    assert_eq!(incident.affected_patient_count, 21);
    assert_eq!(incident.event_count, 21);
    assert_eq!(incident.status, "OPEN");
    assert_eq!(incident.evidence["distinctPatientsLastMinute"], 21);
    assert_eq!(incident.evidence["trigger"], "patients_per_minute");
    let evidence = incident.evidence.to_string();
    for marker in PHI_MARKERS {
        assert!(!evidence.contains(marker), "{marker} in {evidence}");
    }
    for id in &ids {
        assert!(
            !evidence.contains(id.as_str()),
            "a patient id in {evidence}"
        );
    }
    assert_eq!(
        report.incidents.iter().filter(|(_, i)| i.inserted).count(),
        1
    );
    let (_, after) = scrape(&app).await;
    let series = [("kind", "EXCESSIVE_PHI_ACCESS"), ("severity", "HIGH")];
    assert!(
        value(&after, "haven_security_incidents_total", &series)
            >= value(&before, "haven_security_incidents_total", &series) + 1.0
    );
    assert!(
        app.audited(admin.organization_id, "SECURITY_INCIDENT_OPENED")
            .await
    );
}

#[tokio::test]
async fn twenty_patients_in_a_minute_open_nothing() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    always_open(&app, &admin).await;
    for id in &patients(&app, &admin, 20).await {
        read_patient(&app, &admin, id).await;
    }

    detect(&app).await;

    assert!(incidents(&app, admin.organization_id).await.is_empty());
}

#[tokio::test]
async fn later_reads_bump_the_open_incident_instead_of_opening_another() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    always_open(&app, &admin).await;
    let ids = patients(&app, &admin, 22).await;
    for id in &ids[..21] {
        read_patient(&app, &admin, id).await;
    }
    detect(&app).await;
    read_patient(&app, &admin, &ids[21]).await;

    detect(&app).await;
    detect(&app).await;

    let found = incidents(&app, admin.organization_id).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].event_count, 22);
    assert_eq!(found[0].affected_patient_count, 22);
    let owner = app.db().owner_pool().await;
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT kind FROM security_incident_events WHERE incident_id = $1 ORDER BY at, id",
    )
    .bind(found[0].id)
    .fetch_all(&owner)
    .await
    .expect("history");
    assert_eq!(kinds, ["DETECTED", "UPDATED"]);
}

#[tokio::test]
async fn a_crash_between_batches_neither_skips_nor_double_counts_a_row() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let org = admin.organization_id;
    always_open(&app, &admin).await;
    let ids = patients(&app, &admin, 26).await;
    for id in &ids[..21] {
        read_patient(&app, &admin, id).await;
    }
    // First batch: committed.
    detect(&app).await;
    for id in &ids[21..] {
        read_patient(&app, &admin, id).await;
    }
    app.state().sealer().flush().await.expect("flush");
    // Second batch: evaluated, then the process "dies" before COMMIT.
    {
        let mut tx = app.state().db().begin_tenant(org, None).await.expect("tx");
        let outcome = detector::evaluate(&mut tx, detector::BATCH)
            .await
            .expect("evaluate");
        assert_eq!(outcome.incidents.len(), 1);
        assert_eq!(outcome.incidents[0].event_count, 26);
        drop(tx);
    }
    assert_eq!(incidents(&app, org).await[0].event_count, 21);

    detect(&app).await;

    let found = incidents(&app, org).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].event_count, 26, "every read counted once");
    let owner = app.db().owner_pool().await;
    let (cursor, head): (i64, i64) = sqlx::query_as(
        "SELECT c.last_sequence, h.last_sequence FROM breach_detector_cursors c \
         JOIN audit_chain_heads h USING (organization_id) WHERE c.organization_id = $1",
    )
    .bind(org)
    .fetch_one(&owner)
    .await
    .expect("cursor");
    // The detector's own audit events of the last pass are sealed after it: at most those.
    assert!(cursor <= head && cursor > 0);
    let ranges: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT details->'sequenceRange' FROM security_incident_events \
         WHERE incident_id = $1 ORDER BY at, id",
    )
    .bind(found[0].id)
    .fetch_all(&owner)
    .await
    .expect("history");
    assert_eq!(ranges.len(), 2, "one entry per committed batch: {ranges:?}");
    assert_eq!(
        ranges[1][0].as_i64(),
        ranges[0][1].as_i64().map(|end| end + 1),
        "the second batch starts right after the first: {ranges:?}"
    );
}

#[tokio::test]
async fn ten_failures_from_one_address_open_an_incident_about_the_address() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    for _ in 0..10 {
        failed_login(&app, &clinician.email).await;
    }

    detect(&app).await;

    let found = of_kind(&app, admin.organization_id, "FAILED_LOGIN_BURST").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].subject_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(found[0].subject_user_id, None);
    assert_eq!(found[0].severity, "HIGH");
    assert_eq!(found[0].evidence["failures"], 10);
}

#[tokio::test]
async fn nine_failures_from_one_address_open_nothing() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    for _ in 0..9 {
        failed_login(&app, &clinician.email).await;
    }

    detect(&app).await;

    assert!(
        of_kind(&app, admin.organization_id, "FAILED_LOGIN_BURST")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn failures_against_unknown_emails_are_a_platform_incident() {
    let app = TestApp::new().await;
    let operator = app
        .user_in(haven::ids::OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;
    for i in 0..10 {
        failed_login(&app, &format!("nobody-{i}@example.net")).await;
    }

    detect(&app).await;

    let found = of_kind(&app, operator.organization_id, "FAILED_LOGIN_BURST").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let listed = app.get_as(&operator, "/api/security/incidents").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(
        listed.json()["incidents"][0]["ruleKind"],
        "FAILED_LOGIN_BURST"
    );
}

#[tokio::test]
async fn failures_then_a_success_on_one_account_open_an_incident_about_the_user() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let other = app.user_in(admin.organization_id, Role::Clinician).await;
    // The account locks at its fifth failure; the practice looks at three.
    configure(
        &app,
        &compliance,
        "FAILED_LOGIN_BURST",
        json!({"enabled": true, "severity": "HIGH", "thresholds": {"failuresBeforeSuccess": 3}}),
    )
    .await;
    let login = |email: String| {
        let app = &app;
        async move {
            app.json(
                Method::POST,
                "/api/auth/login",
                &json!({"email": email, "password": PASSWORD}),
            )
            .await
        }
    };
    for _ in 0..3 {
        failed_login(&app, &clinician.email).await;
    }
    assert_eq!(login(clinician.email.clone()).await.status, StatusCode::OK);
    // Just below: two failures, then a success.
    for _ in 0..2 {
        failed_login(&app, &other.email).await;
    }
    assert_eq!(login(other.email.clone()).await.status, StatusCode::OK);

    detect(&app).await;

    let found = of_kind(&app, admin.organization_id, "FAILED_LOGIN_BURST").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].subject_user_id, Some(clinician.id.as_uuid()));
    assert_eq!(found[0].evidence["trigger"], "failures_then_success");
    assert_eq!(found[0].evidence["failuresBeforeSuccess"], 3);
}

#[tokio::test]
async fn a_role_escalation_attempt_opens_a_high_incident() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let refused = app
        .json_as(
            &admin,
            Method::POST,
            "/api/users",
            &new_user("escalate@example.org", "SUPER_ADMIN"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    detect(&app).await;

    let found = of_kind(&app, admin.organization_id, "PRIVILEGE_ESCALATION").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].severity, "HIGH");
    assert_eq!(found[0].subject_user_id, Some(admin.id.as_uuid()));
    assert_eq!(
        found[0].evidence["actions"],
        json!(["ROLE_ESCALATION_ATTEMPT"])
    );
}

#[tokio::test]
async fn five_denials_in_an_hour_are_medium_and_four_are_nothing() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Clinician).await;
    let biller = app.user_in(admin.organization_id, Role::Billing).await;
    for _ in 0..5 {
        let denied = app.get_as(&clinician, "/api/security/incidents").await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN);
    }
    for _ in 0..4 {
        let denied = app.get_as(&biller, "/api/security/incidents").await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN);
    }

    detect(&app).await;

    let found = of_kind(&app, admin.organization_id, "PRIVILEGE_ESCALATION").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].subject_user_id, Some(clinician.id.as_uuid()));
    assert_eq!(found[0].severity, "MEDIUM");
    assert_eq!(found[0].evidence["denialsLastHour"], 5);
}

#[tokio::test]
async fn more_than_20_exports_in_an_hour_are_critical_and_revoke_the_exporter_s_sessions() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let compliance = app.user_in(admin.organization_id, Role::Compliance).await;
    for _ in 0..21 {
        let export = app.get_as(&compliance, "/api/audit-logs/export").await;
        assert_eq!(export.status, StatusCode::OK);
    }

    detect(&app).await;

    let found = of_kind(&app, admin.organization_id, "BULK_EXPORT").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].severity, "CRITICAL");
    assert_eq!(found[0].subject_user_id, Some(compliance.id.as_uuid()));
    // The default automatic action: the exporter's tokens are refused from now on.
    let after = app.get_as(&compliance, "/api/security/incidents").await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert!(
        app.audited(admin.organization_id, "INCIDENT_CONTAINMENT_ACTION")
            .await
    );
    // The admin's own session is untouched.
    assert_eq!(
        app.get_as(&admin, "/api/security/incidents").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn twenty_exports_in_an_hour_open_nothing() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    for _ in 0..20 {
        let export = app.get_as(&admin, "/api/audit-logs/export").await;
        assert_eq!(export.status, StatusCode::OK);
    }

    detect(&app).await;

    assert!(
        of_kind(&app, admin.organization_id, "BULK_EXPORT")
            .await
            .is_empty()
    );
    assert_eq!(
        app.get_as(&admin, "/api/security/incidents").await.status,
        StatusCode::OK
    );
}

/// A practice whose `BULK_EXPORT` flags one export of more than 3 patients, after `n` patients
/// were created and the ADMIN exported the log (which names them all) once, and a detection.
async fn one_export_reaching(n: usize) -> (TestApp, haven_testkit::TestUser) {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    configure(
        &app,
        &admin,
        "BULK_EXPORT",
        json!({"enabled": true, "severity": "CRITICAL", "thresholds": {"patientsPerExport": 3}}),
    )
    .await;
    patients(&app, &admin, n).await;
    let export = app.get_as(&admin, "/api/audit-logs/export").await;
    assert_eq!(export.status, StatusCode::OK);
    detect(&app).await;
    (app, admin)
}

/// One export reaching more patients than `patientsPerExport` (lowered to 3 here, 500 by
/// default) is HIGH — the rule's CRITICAL is for too many exports in an hour; the export's
/// audit row carries the count.
#[tokio::test]
async fn one_export_of_more_patients_than_the_threshold_is_high() {
    let (app, admin) = one_export_reaching(4).await;

    let found = of_kind(&app, admin.organization_id, "BULK_EXPORT").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].severity, "HIGH");
    assert_eq!(found[0].affected_patient_count, 4);
    assert_eq!(found[0].evidence["trigger"], "patients_per_export");
    assert_eq!(found[0].evidence["largestExportPatients"], 4);
}

#[tokio::test]
async fn one_export_of_as_many_patients_as_the_threshold_opens_nothing() {
    let (app, admin) = one_export_reaching(3).await;

    assert!(
        of_kind(&app, admin.organization_id, "BULK_EXPORT")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn more_than_10_reads_outside_business_hours_are_medium() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let clinician = app.user_in(admin.organization_id, Role::Admin).await;
    // No business day at all: every moment is after hours, whenever the test runs.
    business_hours(
        &app,
        &admin,
        json!({"start": "06:00", "end": "22:00", "days": []}),
    )
    .await;
    let ids = patients(&app, &admin, 1).await;
    for _ in 0..11 {
        read_patient(&app, &admin, &ids[0]).await;
    }
    // Just below: ten reads by another user.
    for _ in 0..10 {
        read_patient(&app, &clinician, &ids[0]).await;
    }

    detect(&app).await;

    let found = of_kind(&app, admin.organization_id, "AFTER_HOURS_ACCESS").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].severity, "MEDIUM");
    assert_eq!(found[0].subject_user_id, Some(admin.id.as_uuid()));
    assert_eq!(found[0].evidence["readsLastHour"], 11);
}

#[tokio::test]
async fn reads_inside_business_hours_are_not_after_hours() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    always_open(&app, &admin).await;
    let ids = patients(&app, &admin, 1).await;
    for _ in 0..11 {
        read_patient(&app, &admin, &ids[0]).await;
    }

    detect(&app).await;

    assert!(
        of_kind(&app, admin.organization_id, "AFTER_HOURS_ACCESS")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_disabled_rule_finds_nothing() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    configure(
        &app,
        &admin,
        "PRIVILEGE_ESCALATION",
        json!({"enabled": false, "severity": "HIGH"}),
    )
    .await;
    let refused = app
        .json_as(
            &admin,
            Method::POST,
            "/api/users",
            &new_user("x@example.org", "SUPER_ADMIN"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    detect(&app).await;

    assert!(
        of_kind(&app, admin.organization_id, "PRIVILEGE_ESCALATION")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_new_incident_goes_to_the_security_webhook_and_the_lag_is_exported() {
    let hook = crate::fixtures::webhook::receiver(0).await;
    let app = TestApp::new().await;
    app.state()
        .security_signals()
        .attach_webhook(haven::btg::webhook::WebhookUrl::parse(&hook.url).expect("url"))
        .expect("attach");
    let admin = app.org_with("Practice A", Role::Admin).await;
    let refused = app
        .json_as(
            &admin,
            Method::POST,
            "/api/users",
            &new_user("up@example.org", "SUPER_ADMIN"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    detect(&app).await;

    let bodies = hook.wait_for(1).await;
    let line = bodies
        .iter()
        .find(|b| b["action"] == "SECURITY_INCIDENT_OPENED")
        .expect("the incident's line");
    assert_eq!(line["level"], "SECURITY");
    assert_eq!(line["severity"], "HIGH");
    assert_eq!(line["ruleKind"], "PRIVILEGE_ESCALATION");
    assert_eq!(line["organizationId"], admin.organization_id.to_string());
    assert_eq!(line["userId"], admin.id.to_string());
    let (text, _) = scrape(&app).await;
    assert!(text.contains("haven_breach_detector_lag_seconds"), "{text}");
}

#[tokio::test]
async fn two_instances_detecting_at_once_open_one_incident_and_count_each_row_once() {
    let app = TestApp::new().await;
    let second = app.another_instance().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    always_open(&app, &admin).await;
    for id in &patients(&app, &admin, 21).await {
        read_patient(&app, &admin, id).await;
    }
    app.state().sealer().flush().await.expect("flush");

    let (one, two) = tokio::join!(
        detector::run_once(app.state()),
        detector::run_once(second.state())
    );
    let (one, two) = (one.expect("first pass"), two.expect("second pass"));
    // Whichever pass skipped or came second, a last one finds nothing left to read.
    detect(&app).await;

    assert!(one.ran || two.ran);
    let found = of_kind(&app, admin.organization_id, "EXCESSIVE_PHI_ACCESS").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].event_count, 21);
}
