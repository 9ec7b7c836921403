//! `/api/admin/maintenance`: ADMIN cleans their practice, SUPER_ADMIN every practice, other
//! roles nothing.

use axum::http::StatusCode;
use haven::domain::Role;
use haven::ids::OrganizationId;
use haven_testkit::TestApp;
use serde_json::json;

use crate::fixtures::maintenance::clean;
use crate::fixtures::units::{assert_ledger_balanced, authorization, practice, session_at, status};

#[tokio::test]
async fn admins_clean_their_practice_operators_every_practice_others_nothing() {
    let app = TestApp::new().await;
    let a = practice(&app, "Practice A").await;
    let b = practice(&app, "Practice B").await;
    let auth_a = authorization(&app, &a.admin, &a.patient, 10).await;
    let auth_b = authorization(&app, &b.admin, &b.patient, 10).await;
    let in_a = session_at(&app, &a.admin, &auth_a, 2, -240).await;
    let in_b = session_at(&app, &b.admin, &auth_b, 3, -240).await;
    let billing = app.user_in(a.admin.organization_id, Role::Billing).await;
    let operator = app
        .user_in(OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;

    assert_eq!(clean(&app, &billing, "").await.0, StatusCode::FORBIDDEN);
    let (_, patient) = clean(&app, &a.admin, "?olderThanMinutes=600").await;
    assert_eq!(
        (
            patient["sessionsCleaned"].clone(),
            patient["staleThresholdMinutes"].clone()
        ),
        (json!(0), json!(600))
    );
    assert_eq!(
        clean(&app, &a.admin, "?olderThanMinutes=0").await.0,
        StatusCode::BAD_REQUEST
    );
    let (_, own) = clean(&app, &a.admin, "").await;
    assert_eq!(own["sessionsCleaned"], 1);
    assert_eq!(
        status(&app, &b.admin, &in_b).await,
        "SCHEDULED",
        "another practice is untouched"
    );
    let (code, all) = clean(&app, &operator, "").await;

    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        (
            all["sessionsCleaned"].clone(),
            all["totalUnitsRecovered"].clone()
        ),
        (json!(1), json!(3))
    );
    assert_eq!(status(&app, &a.admin, &in_a).await, "CANCELLED");
    assert_eq!(status(&app, &b.admin, &in_b).await, "CANCELLED");
    assert_ledger_balanced(&app, a.admin.organization_id).await;
    assert_ledger_balanced(&app, b.admin.organization_id).await;
}
