//! Password spraying across practices: one address failing on accounts of several practices,
//! each practice below its own `FAILED_LOGIN_BURST` thresholds, is a platform incident (the
//! SUPER_ADMIN's), found through the real login API, crash-safe like the per-practice rules.

use axum::http::StatusCode;
use haven::domain::Role;
use haven::ids::OrganizationId;
use haven::security::detector;
use haven_testkit::{TestApp, TestUser};
use serde_json::json;

use crate::fixtures::security::{configure, detect, failed_login, of_kind};

/// Three practices with an ADMIN each and `accounts[i]` further clinicians in practice `i`.
async fn practices(app: &TestApp, accounts: [usize; 3]) -> Vec<(TestUser, Vec<TestUser>)> {
    let mut out = Vec::new();
    for (i, n) in accounts.into_iter().enumerate() {
        let admin = app.org_with(&format!("Practice {i}"), Role::Admin).await;
        let mut clinicians = Vec::new();
        for _ in 0..n {
            clinicians.push(app.user_in(admin.organization_id, Role::Clinician).await);
        }
        out.push((admin, clinicians));
    }
    out
}

/// The platform's FAILED_LOGIN_BURST incidents.
async fn platform_bursts(app: &TestApp) -> Vec<crate::fixtures::security::StoredIncident> {
    of_kind(app, OrganizationId::PLATFORM, "FAILED_LOGIN_BURST").await
}

/// One failed login (from the test client's address) per clinician of every practice.
async fn fail_each(app: &TestApp, practices: &[(TestUser, Vec<TestUser>)]) {
    for (_, clinicians) in practices {
        for clinician in clinicians {
            failed_login(app, &clinician.email).await;
        }
    }
}

#[tokio::test]
async fn five_accounts_over_three_practices_are_a_platform_incident_about_the_address() {
    let app = TestApp::new().await;
    let operator = app
        .user_in(OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;
    let practices = practices(&app, [2, 2, 1]).await;
    fail_each(&app, &practices).await;

    detect(&app).await;

    let found = platform_bursts(&app).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let incident = &found[0];
    assert_eq!(incident.subject_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(incident.subject_user_id, None);
    assert_eq!(incident.severity, "HIGH");
    assert_eq!(incident.event_count, 5);
    assert_eq!(incident.evidence["trigger"], "accounts_across_practices");
    assert_eq!(incident.evidence["practices"], 3);
    assert_eq!(incident.evidence["accounts"], 5);
    let named: Vec<String> = serde_json::from_value(incident.evidence["organizationIds"].clone())
        .expect("organization ids");
    for (admin, _) in &practices {
        assert!(named.contains(&admin.organization_id.to_string()));
        // Each practice stayed below its own thresholds, and sees nothing of the platform's.
        assert!(
            of_kind(&app, admin.organization_id, "FAILED_LOGIN_BURST")
                .await
                .is_empty()
        );
        let listed = app.get_as(admin, "/api/security/incidents").await;
        assert_eq!(listed.status, StatusCode::OK);
        assert_eq!(listed.json()["incidents"], json!([]));
    }
    // Evidence: addresses, counts and ids only; no account is named.
    for (_, clinicians) in &practices {
        for clinician in clinicians {
            let evidence = incident.evidence.to_string();
            assert!(!evidence.contains(&clinician.email), "{evidence}");
            assert!(!evidence.contains(&clinician.id.to_string()), "{evidence}");
        }
    }
    let listed = app.get_as(&operator, "/api/security/incidents").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json()["incidents"][0]["id"], incident.id.to_string());

    // Nothing new: the next pass reads no failure twice.
    detect(&app).await;
    let again = platform_bursts(&app).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].event_count, 5);
}

#[tokio::test]
async fn four_accounts_over_three_practices_open_nothing() {
    let app = TestApp::new().await;
    let practices = practices(&app, [2, 1, 1]).await;
    fail_each(&app, &practices).await;

    detect(&app).await;

    assert!(platform_bursts(&app).await.is_empty());
}

#[tokio::test]
async fn five_accounts_of_one_practice_are_that_practice_s_incident_not_the_platform_s() {
    let app = TestApp::new().await;
    let practices = practices(&app, [5, 0, 0]).await;
    fail_each(&app, &practices).await;

    detect(&app).await;

    assert!(platform_bursts(&app).await.is_empty());
    let own = of_kind(&app, practices[0].0.organization_id, "FAILED_LOGIN_BURST").await;
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(own[0].evidence["trigger"], "accounts_per_ip");
}

#[tokio::test]
async fn the_platform_s_thresholds_and_switch_govern_spraying() {
    let app = TestApp::new().await;
    let operator = app
        .user_in(OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;
    // Three accounts over two practices cross thresholds lowered to 3 accounts, 2 practices.
    configure(
        &app,
        &operator,
        "FAILED_LOGIN_BURST",
        json!({"enabled": true, "severity": "CRITICAL",
               "thresholds": {"accountsPerIp": 3, "practicesPerIp": 2}}),
    )
    .await;
    let practices = practices(&app, [2, 1, 0]).await;
    fail_each(&app, &practices).await;
    detect(&app).await;
    let found = platform_bursts(&app).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].severity, "CRITICAL");
    assert_eq!(found[0].evidence["thresholds"]["practicesPerIp"], 2);

    // Switched off, the platform's rule reads nothing.
    let fresh = TestApp::new().await;
    let operator = fresh
        .user_in(OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;
    configure(
        &fresh,
        &operator,
        "FAILED_LOGIN_BURST",
        json!({"enabled": false, "severity": "HIGH"}),
    )
    .await;
    let practices = self::practices(&fresh, [2, 2, 1]).await;
    fail_each(&fresh, &practices).await;
    detect(&fresh).await;
    assert!(platform_bursts(&fresh).await.is_empty());
}

#[tokio::test]
async fn a_crash_before_commit_neither_skips_nor_double_counts_a_failure() {
    let app = TestApp::new().await;
    let practices = practices(&app, [2, 2, 1]).await;
    fail_each(&app, &practices).await;
    app.state().sealer().flush().await.expect("flush");

    // The check runs, then the process "dies" before COMMIT: cursors and incidents roll back.
    {
        let mut tx = app
            .state()
            .db()
            .begin_tenant(OrganizationId::PLATFORM, None)
            .await
            .expect("tx");
        let outcome = detector::evaluate_spraying(&mut tx, detector::SPRAY_BATCH)
            .await
            .expect("evaluate");
        assert_eq!(outcome.incidents.len(), 1);
        drop(tx);
    }
    assert!(platform_bursts(&app).await.is_empty());

    detect(&app).await;
    detect(&app).await;

    let found = platform_bursts(&app).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].event_count, 5, "every failure counted once");
}
