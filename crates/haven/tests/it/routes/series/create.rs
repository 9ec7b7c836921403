//! `POST /api/appointment-series`.

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;
use serde_json::{Value, json};

use super::{count, create, series_body, stored};
use crate::fixtures::scheduling::{booked, clinic, text};
use crate::fixtures::units::{
    as_owner, assert_ledger_balanced, audited, authorization, ledger_rows,
};

fn starts(body: &Value) -> Vec<String> {
    body["appointments"]
        .as_array()
        .expect("appointments")
        .iter()
        .map(|a| a["start"].as_str().expect("start").to_owned())
        .collect()
}

#[tokio::test]
async fn a_weekly_series_books_every_occurrence_and_reserves_the_units_once() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 100).await;

    let response = create(
        &app,
        &c.scheduler,
        &series_body(&c.patient, &c.clinician, json!({ "authorizationId": auth })),
    )
    .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    let body = response.json();
    assert_eq!(
        starts(&body),
        [
            "2027-01-04T15:00:00Z",
            "2027-01-07T15:00:00Z",
            "2027-01-11T15:00:00Z",
            "2027-01-14T15:00:00Z"
        ]
    );
    assert_eq!(body["skipped"], json!([]));
    // 4 × 60 minutes of 15-minute units.
    assert_eq!(body["reservedUnits"], 16);
    assert_eq!(body["remainingUnits"], 84);
    let series = body["series"]["id"].as_str().expect("id").to_owned();
    assert!(body["appointments"].as_array().expect("a").iter().all(|a| {
        a["seriesId"] == series.as_str() && a["sessionId"].is_string() && a["status"] == "BOOKED"
    }));
    assert_eq!(
        ledger_rows(&app, &auth).await,
        vec![("RESERVE".to_owned(), 4); 4]
    );
    assert_ledger_balanced(&app, c.admin.organization_id).await;
    let org = c.admin.organization_id;
    assert_eq!(audited(&app, org, "SERIES_CREATE").await.len(), 1);
    assert_eq!(audited(&app, org, "APPOINTMENT_BOOK").await.len(), 4);
    assert_eq!(audited(&app, org, "SESSION_RESERVE").await.len(), 4);
}

#[tokio::test]
async fn every_other_week_skips_the_weeks_between() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let body = series_body(
        &c.patient,
        &c.clinician,
        json!({ "startDate": "2027-01-05", "recurrence":
            { "frequency": "WEEKLY", "interval": 2, "byDay": ["MO", "TH"], "until": "2027-02-01" } }),
    );

    let response = create(&app, &c.admin, &body).await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    // Weeks of 2027-01-04 and 2027-01-18 (the Monday of the first week is before startDate),
    // and 2027-02-01.
    assert_eq!(
        starts(&response.json()),
        [
            "2027-01-07T15:00:00Z",
            "2027-01-18T15:00:00Z",
            "2027-01-21T15:00:00Z",
            "2027-02-01T15:00:00Z"
        ]
    );
}

#[tokio::test]
async fn reject_books_nothing_and_names_every_conflicting_occurrence() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        "2027-01-07T15:30:00Z",
        json!({}),
    )
    .await;
    booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        "2027-01-14T14:30:00Z",
        json!({}),
    )
    .await;
    let before = count(&app, "calendar_entries").await;

    let response = create(
        &app,
        &c.scheduler,
        &series_body(&c.patient, &c.clinician, json!({})),
    )
    .await;

    assert_eq!(response.status, StatusCode::CONFLICT, "{}", text(&response));
    let body = response.json();
    assert_eq!(body["error"], "SCHEDULE_CONFLICT");
    assert_eq!(
        body["details"],
        json!({ "2027-01-07T15:00:00Z": "clinician", "2027-01-14T15:00:00Z": "clinician" })
    );
    assert_eq!(count(&app, "calendar_entries").await, before);
    assert_eq!(count(&app, "appointment_series").await, 0);
}

#[tokio::test]
async fn skip_books_the_free_occurrences_and_names_the_rest() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 100).await;
    booked(
        &app,
        &c.admin,
        &c.patient,
        &c.clinician,
        "2027-01-07T15:30:00Z",
        json!({}),
    )
    .await;

    let response = create(
        &app,
        &c.scheduler,
        &series_body(
            &c.patient,
            &c.clinician,
            json!({ "onConflict": "skip", "authorizationId": auth }),
        ),
    )
    .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    let body = response.json();
    assert_eq!(starts(&body).len(), 3);
    assert_eq!(
        body["skipped"],
        json!([{ "start": "2027-01-07T15:00:00Z", "reason": "clinician" }])
    );
    assert_eq!(body["reservedUnits"], 12);
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn occurrences_after_the_authorization_end_are_refused() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 100).await;
    as_owner(
        &app,
        "UPDATE authorizations SET end_date = '2027-01-10' WHERE id = $1::uuid",
        &auth,
    )
    .await;
    let body = series_body(&c.patient, &c.clinician, json!({ "authorizationId": auth }));

    let rejected = create(&app, &c.scheduler, &body).await;
    let mut skip = body.clone();
    skip["onConflict"] = json!("skip");
    let skipped = create(&app, &c.scheduler, &skip).await;

    assert_eq!(rejected.status, StatusCode::CONFLICT, "{}", text(&rejected));
    assert_eq!(
        rejected.json()["details"]["2027-01-11T15:00:00Z"],
        "after_authorization_end"
    );
    assert_eq!(skipped.status, StatusCode::CREATED, "{}", text(&skipped));
    assert_eq!(starts(&skipped.json()).len(), 2);
    assert_eq!(skipped.json()["reservedUnits"], 8);
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn units_that_do_not_fit_refuse_the_whole_series() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 15).await;

    let response = create(
        &app,
        &c.scheduler,
        &series_body(&c.patient, &c.clinician, json!({ "authorizationId": auth })),
    )
    .await;

    assert_eq!(response.status, StatusCode::CONFLICT, "{}", text(&response));
    assert_eq!(response.json()["error"], "INSUFFICIENT_UNITS");
    assert_eq!(count(&app, "calendar_entries").await, 0);
    assert!(ledger_rows(&app, &auth).await.is_empty());
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn a_dry_run_answers_the_same_body_and_writes_nothing() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let auth = authorization(&app, &c.admin, &c.patient, 100).await;
    let audits = app.audit_events(c.admin.organization_id).await.len();

    let response = create(
        &app,
        &c.scheduler,
        &series_body(
            &c.patient,
            &c.clinician,
            json!({ "authorizationId": auth, "dryRun": true }),
        ),
    )
    .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    let body = response.json();
    assert_eq!(starts(&body).len(), 4);
    assert_eq!(body["reservedUnits"], 16);
    assert_eq!(body["remainingUnits"], 84);
    assert_eq!(body["series"]["dryRun"], true);
    assert_eq!(count(&app, "calendar_entries").await, 0);
    assert_eq!(count(&app, "appointment_series").await, 0);
    assert_eq!(count(&app, "therapy_sessions").await, 0);
    assert!(ledger_rows(&app, &auth).await.is_empty());
    assert_eq!(
        app.audit_events(c.admin.organization_id).await.len(),
        audits
    );
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn a_series_across_the_dst_change_keeps_its_local_wall_time() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    // US DST starts on Sunday 2027-03-14: 15:00 New York is 20:00Z before, 19:00Z after.
    let body = series_body(
        &c.patient,
        &c.clinician,
        json!({ "startDate": "2027-03-01", "startTime": "15:00", "recurrence":
            { "frequency": "WEEKLY", "interval": 1, "byDay": ["MO"], "count": 3 } }),
    );

    let response = create(&app, &c.admin, &body).await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", text(&response));
    let body = response.json();
    assert_eq!(
        starts(&body),
        [
            "2027-03-01T20:00:00Z",
            "2027-03-08T20:00:00Z",
            "2027-03-15T19:00:00Z"
        ]
    );
    let id = body["series"]["id"].as_str().expect("id").to_owned();
    assert_eq!(stored(&app, &id).await.len(), 3);
}

#[tokio::test]
async fn bad_series_are_refused_naming_the_field() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let cases = [
        (
            json!({ "recurrence": { "frequency": "WEEKLY", "interval": 1, "byDay": ["MO"], "count": 53 } }),
            "recurrence.count",
        ),
        (
            json!({ "recurrence": { "frequency": "WEEKLY", "interval": 1, "byDay": ["MO"], "until": "2028-01-04" } }),
            "recurrence.until",
        ),
        (
            json!({ "recurrence": { "frequency": "WEEKLY", "interval": 1, "byDay": ["MO"], "until": "2027-01-01" } }),
            "recurrence.until",
        ),
        (
            json!({ "recurrence": { "frequency": "WEEKLY", "interval": 1, "byDay": ["MO", "TH"], "until": "2027-12-31" } }),
            "recurrence",
        ),
        (
            json!({ "recurrence": { "frequency": "WEEKLY", "interval": 2, "byDay": ["MO"], "count": 52 } }),
            "recurrence.count",
        ),
        (
            json!({ "recurrence": { "frequency": "WEEKLY", "interval": 1, "byDay": ["XX"], "count": 2 } }),
            "recurrence.byDay",
        ),
        (
            json!({ "recurrence": { "frequency": "WEEKLY", "interval": 1, "byDay": [], "count": 2 } }),
            "recurrence.byDay",
        ),
        (
            json!({ "recurrence": { "frequency": "WEEKLY", "interval": 3, "byDay": ["MO"], "count": 2 } }),
            "recurrence.interval",
        ),
        (
            json!({ "recurrence": { "frequency": "DAILY", "interval": 1, "byDay": ["MO"], "count": 2 } }),
            "recurrence.frequency",
        ),
        (
            json!({ "recurrence": { "frequency": "WEEKLY", "interval": 1, "byDay": ["MO"] } }),
            "recurrence",
        ),
        (json!({ "timeZone": "Mars/Olympus_Mons" }), "timeZone"),
        (json!({ "timeZone": "not a zone" }), "timeZone"),
        (json!({ "startDate": "2027-02-30" }), "startDate"),
        (json!({ "startTime": "25:00" }), "startTime"),
        (json!({ "startTime": "09:07" }), "startTime"),
        (json!({ "durationMinutes": 10 }), "durationMinutes"),
        (
            json!({ "expectedUnitsPerOccurrence": 4 }),
            "expectedUnitsPerOccurrence",
        ),
        // 02:30 does not exist in New York on 2027-03-14.
        (
            json!({ "startDate": "2027-03-14", "startTime": "02:30", "recurrence":
            { "frequency": "WEEKLY", "interval": 1, "byDay": ["SU"], "count": 2 } }),
            "startTime",
        ),
    ];
    for (extra, field) in cases {
        let response = create(
            &app,
            &c.admin,
            &series_body(&c.patient, &c.clinician, extra.clone()),
        )
        .await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{extra}: {}",
            text(&response)
        );
        assert!(
            response.json()["details"].get(field).is_some(),
            "{extra}: {}",
            text(&response)
        );
    }
    assert_eq!(count(&app, "calendar_entries").await, 0);
}

#[tokio::test]
async fn who_may_book_a_series() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let other = app.user_in(c.admin.organization_id, Role::Clinician).await;
    let billing = app.user_in(c.admin.organization_id, Role::Billing).await;
    let body = series_body(&c.patient, &c.clinician, json!({ "dryRun": true }));

    assert_eq!(
        create(&app, &billing, &body).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        create(&app, &other, &body).await.status,
        StatusCode::FORBIDDEN
    );
    let own = create(&app, &c.clinician, &body).await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", text(&own));
    assert!(
        !audited(&app, c.admin.organization_id, "ACCESS_DENIED")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn another_practices_patient_or_clinician_is_not_found_and_audited() {
    let app = TestApp::new().await;
    let a = clinic(&app, "Practice A", 0).await;
    let b = clinic(&app, "Practice B", 0).await;

    let their_patient = create(
        &app,
        &b.scheduler,
        &series_body(&a.patient, &b.clinician, json!({})),
    )
    .await;
    let their_clinician = create(
        &app,
        &b.scheduler,
        &series_body(&b.patient, &a.clinician, json!({})),
    )
    .await;

    assert_eq!(
        their_patient.status,
        StatusCode::NOT_FOUND,
        "{}",
        text(&their_patient)
    );
    assert_eq!(their_clinician.status, StatusCode::NOT_FOUND);
    let their_authorization = authorization(&app, &a.admin, &a.patient, 100).await;
    let foreign_units = create(
        &app,
        &b.scheduler,
        &series_body(
            &b.patient,
            &b.clinician,
            json!({ "authorizationId": their_authorization }),
        ),
    )
    .await;
    assert_eq!(
        foreign_units.status,
        StatusCode::NOT_FOUND,
        "{}",
        text(&foreign_units)
    );
    assert_eq!(
        audited(&app, b.admin.organization_id, "CROSS_TENANT_ACCESS_ATTEMPT")
            .await
            .len(),
        3
    );
    assert_eq!(count(&app, "calendar_entries").await, 0);
    assert!(ledger_rows(&app, &their_authorization).await.is_empty());
}

#[tokio::test]
async fn an_authorization_of_another_patient_is_refused_and_moves_nothing() {
    let app = TestApp::new().await;
    let c = clinic(&app, "Practice A", 0).await;
    let sibling = crate::fixtures::units::patient(&app, &c.admin, "MRN-SIBLING").await;
    let theirs = authorization(&app, &c.admin, &sibling, 100).await;

    let response = create(
        &app,
        &c.scheduler,
        &series_body(
            &c.patient,
            &c.clinician,
            json!({ "authorizationId": theirs }),
        ),
    )
    .await;

    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        text(&response)
    );
    assert!(response.json()["details"]["authorizationId"].is_string());
    assert_eq!(count(&app, "calendar_entries").await, 0);
    assert!(ledger_rows(&app, &theirs).await.is_empty());
}
