//! `GET /api/sessions`: filters by patient, authorization, status and time.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::post;
use crate::fixtures::units::{authorization, practice, reserve_at, reserved};

#[tokio::test]
async fn session_lists_filter_by_patient_authorization_status_and_time() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let auth = authorization(&app, &p.admin, &p.patient, 50).await;
    let other = authorization(&app, &p.admin, &p.patient, 50).await;
    reserve_at(&app, &p.admin, &auth, 1, -60 * 24 * 3).await;
    let today = reserved(&app, &p.admin, &auth, 1).await;
    reserve_at(&app, &p.admin, &other, 1, 60 * 24 * 3).await;
    post(
        &app,
        &p.admin,
        &format!("/api/sessions/{today}/start"),
        json!({}),
    )
    .await;

    let list = |q: String| {
        let app = &app;
        let admin = &p.admin;
        async move {
            app.get_as(admin, &format!("/api/sessions?{q}"))
                .await
                .json()
        }
    };
    let total = |v: &Value| v["pagination"]["total"].as_i64().expect("total");
    assert_eq!(total(&list(format!("authorizationId={auth}")).await), 2);
    assert_eq!(total(&list(format!("patientId={}", p.patient)).await), 3);
    let started = list("status=IN_PROGRESS".into()).await;
    assert_eq!(started["sessions"][0]["id"], json!(today));
    let window = list(format!(
        "from={}&to={}",
        crate::fixtures::units::day(-1),
        crate::fixtures::units::day(0)
    ))
    .await;
    assert_eq!(total(&window), 1);
    assert_eq!(
        app.get_as(&p.admin, "/api/sessions?from=yesterday")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}
