//! `GET /api/authorizations`: filters by patient, status, expiry and low units; pages.

use axum::http::StatusCode;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use crate::fixtures::post;
use crate::fixtures::units::{authorization, authorization_body, day, patient, practice, reserved};

#[tokio::test]
async fn lists_filter_by_patient_status_expiry_and_low_units() {
    let app = TestApp::new().await;
    let p = practice(&app, "Practice A").await;
    let second = patient(&app, &p.admin, "MRN-2").await;
    let full = authorization(&app, &p.admin, &p.patient, 10).await;
    let low = authorization(&app, &p.admin, &p.patient, 20).await;
    let other = authorization(&app, &p.admin, &second, 10).await;
    let mut soon = authorization_body(&second, 10);
    soon["endDate"] = json!(day(10));
    let soon = post(&app, &p.admin, "/api/authorizations", soon)
        .await
        .json()["authorization"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut past = authorization_body(&second, 10);
    past["startDate"] = json!(day(-60));
    past["endDate"] = json!(day(-1));
    post(&app, &p.admin, "/api/authorizations", past).await;
    reserved(&app, &p.admin, &full, 10).await;
    reserved(&app, &p.admin, &low, 19).await;

    let ids = |value: Value| -> Vec<String> {
        value["authorizations"]
            .as_array()
            .expect("list")
            .iter()
            .map(|a| a["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let query = |q: &'static str| {
        let app = &app;
        let admin = &p.admin;
        async move {
            app.get_as(admin, &format!("/api/authorizations?{q}"))
                .await
                .json()
        }
    };
    let mine = query_patient(&app, &p.admin, &p.patient).await;
    assert_eq!(mine.len(), 2);
    assert_eq!(ids(query("status=EXHAUSTED").await), vec![full.clone()]);
    assert_eq!(query("status=EXPIRED").await["pagination"]["total"], 1);
    assert_eq!(
        ids(query("expiringWithinDays=30").await),
        vec![soon.clone()]
    );
    let low_list = ids(query("lowUnits=true").await);
    assert!(low_list.contains(&low) && low_list.contains(&full) && !low_list.contains(&other));
    assert_eq!(
        app.get_as(&p.admin, "/api/authorizations?status=GONE")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let page = query("limit=2&page=3").await;
    assert_eq!(
        page["pagination"],
        json!({"page": 3, "limit": 2, "total": 5, "totalPages": 3})
    );
}

async fn query_patient(app: &TestApp, user: &haven_testkit::TestUser, patient: &str) -> Vec<Value> {
    app.get_as(user, &format!("/api/authorizations?patientId={patient}"))
        .await
        .json()["authorizations"]
        .as_array()
        .expect("list")
        .clone()
}
