//! Exports are ADMIN's and BILLING's; another practice's export is 404, audited.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::charges::{charge_clinic, download, export, exported, ready};
use crate::fixtures::notes::text;
use crate::fixtures::units::audited;

#[tokio::test]
async fn a_clinician_scheduler_or_compliance_officer_gets_an_audited_403() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Practice A").await;
    ready(&app, &k, 2).await;
    let made = exported(&app, &k.c.admin, "csv").await;
    for user in [&k.c.author, &k.c.scheduler, &k.c.compliance] {
        let create = export(&app, user, "csv").await;
        let list = app.get_as(user, "/api/charge-exports").await;
        let file = download(&app, user, &made["id"]).await;
        for response in [create, list, file] {
            assert_eq!(
                response.status,
                StatusCode::FORBIDDEN,
                "{}",
                text(&response)
            );
            assert_eq!(response.error_code(), "FORBIDDEN");
        }
    }
    assert!(
        audited(&app, k.c.admin.organization_id, "ACCESS_DENIED")
            .await
            .len()
            >= 9
    );
    assert!(
        audited(&app, k.c.admin.organization_id, "CHARGE_EXPORT_DOWNLOAD")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn another_practices_export_is_404_and_audited_as_cross_tenant() {
    let app = TestApp::new().await;
    let a = charge_clinic(&app, "Practice A").await;
    let b = charge_clinic(&app, "Practice B").await;
    ready(&app, &a, 2).await;
    let made = exported(&app, &a.c.billing, "csv").await;

    let file = download(&app, &b.c.billing, &made["id"]).await;
    let theirs = export(&app, &b.c.billing, "csv").await;

    assert_eq!(file.status, StatusCode::NOT_FOUND, "{}", text(&file));
    assert_eq!(file.error_code(), "NOT_FOUND");
    assert_eq!(
        theirs.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "B has nothing of A's to export"
    );
    let attempts = audited(
        &app,
        b.c.admin.organization_id,
        "CROSS_TENANT_ACCESS_ATTEMPT",
    )
    .await;
    assert_eq!(
        attempts,
        vec![json!({
            "callerOrganizationId": b.c.admin.organization_id,
            "targetOrganizationId": a.c.admin.organization_id,
        })]
    );
    let listed = app.get_as(&b.c.billing, "/api/charge-exports").await.json();
    assert_eq!(listed["pagination"]["total"], 0);
}
