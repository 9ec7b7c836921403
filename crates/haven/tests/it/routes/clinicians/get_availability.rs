//! `GET /api/clinicians/{userId}/availability`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;

use crate::fixtures::scheduling::clinic;

#[tokio::test]
async fn the_clinician_and_the_front_desk_read_the_hours() {
    let app = TestApp::new().await;
    let clinic = clinic(&app, "Practice A", 15).await;
    let path = format!("/api/clinicians/{}/availability", clinic.clinician.id);

    for user in [&clinic.clinician, &clinic.scheduler, &clinic.admin] {
        let response = app.get_as(user, &path).await;

        assert_eq!(response.status, StatusCode::OK);
        let availability = response.json()["availability"].clone();
        assert_eq!(availability["bufferMinutes"], 15);
        assert_eq!(availability["rules"][0]["startTime"], "09:00");
        let body = String::from_utf8_lossy(&response.body).into_owned();
        assert!(
            !body.contains(&clinic.patient),
            "no patient in a calendar's hours"
        );
    }
}

#[tokio::test]
async fn billing_and_other_clinicians_may_not_read_it() {
    let app = TestApp::new().await;
    let clinic = clinic(&app, "Practice A", 0).await;
    let path = format!("/api/clinicians/{}/availability", clinic.clinician.id);
    let colleague = app
        .user_in(clinic.admin.organization_id, Role::Clinician)
        .await;
    let billing = app
        .user_in(clinic.admin.organization_id, Role::Billing)
        .await;

    assert_eq!(
        app.get_as(&colleague, &path).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get_as(&billing, &path).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_non_clinician_or_malformed_id_is_refused() {
    let app = TestApp::new().await;
    let clinic = clinic(&app, "Practice A", 0).await;

    let billing_user = app
        .user_in(clinic.admin.organization_id, Role::Billing)
        .await;
    let not_clinician = app
        .get_as(
            &clinic.admin,
            &format!("/api/clinicians/{}/availability", billing_user.id),
        )
        .await;
    let malformed = app
        .get_as(&clinic.admin, "/api/clinicians/not-a-uuid/availability")
        .await;

    assert_eq!(not_clinician.status, StatusCode::NOT_FOUND);
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn another_practice_reads_nothing_and_is_audited() {
    let app = TestApp::new().await;
    let clinic = clinic(&app, "Practice A", 0).await;
    let b = app.org_with("Practice B", Role::Scheduler).await;

    let response = app
        .get_as(
            &b,
            &format!("/api/clinicians/{}/availability", clinic.clinician.id),
        )
        .await;

    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert!(
        app.audited(b.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
    );
}
