//! `waitlistAutoOffer: "sequential"`: a cancelled appointment, a declined or an expired offer
//! offers the slot to the next ranked entry, once, without racing a human offer.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven::scheduling::offers;
use haven_testkit::{TestApp, TestUser};
use serde_json::{Value, json};

use super::{MONDAY_NINE, added, decide, expire_offer, offer, offered, waitlist_clinic};
use crate::fixtures::scheduling::{booked, text};
use crate::fixtures::units::{assert_ledger_balanced, audited, patient};

async fn set_mode(app: &TestApp, admin: &TestUser, mode: &str) {
    let set = app
        .json_as(
            admin,
            Method::PATCH,
            "/api/organization/settings",
            &json!({ "waitlistAutoOffer": mode }),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", text(&set));
}

/// The pending offers of the practice as (entry id, automatic), as the owner.
async fn pending(app: &TestApp, org: &str) -> Vec<(String, bool)> {
    let owner = app.db().owner_pool().await;
    let rows = sqlx::query_as(
        "SELECT entry_id::text, automatic FROM waitlist_offers \
         WHERE organization_id = $1::uuid AND status = 'PENDING' ORDER BY created_at",
    )
    .bind(org)
    .fetch_all(&owner)
    .await
    .expect("offers");
    owner.close().await;
    rows
}

fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn the_setting_reads_and_changes_and_refuses_unknown_modes() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;

    let before = app
        .get_as(&c.admin, "/api/organization/settings")
        .await
        .json();
    set_mode(&app, &c.admin, "sequential").await;
    let after = app
        .get_as(&c.admin, "/api/organization/settings")
        .await
        .json();
    let bad = app
        .json_as(
            &c.admin,
            Method::PATCH,
            "/api/organization/settings",
            &json!({ "waitlistAutoOffer": "everyone" }),
        )
        .await;
    let by_scheduler = app
        .json_as(
            &c.scheduler,
            Method::PATCH,
            "/api/organization/settings",
            &json!({ "waitlistAutoOffer": "off" }),
        )
        .await;

    assert_eq!(before["settings"]["waitlistAutoOffer"], "off");
    assert_eq!(after["settings"]["waitlistAutoOffer"], "sequential");
    assert_eq!(after["settings"]["timeZone"], "America/New_York");
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["details"]["waitlistAutoOffer"].is_string());
    assert_eq!(by_scheduler.status, StatusCode::FORBIDDEN);
    let changes = audited(&app, c.admin.organization_id, "SETTINGS_UPDATE").await;
    assert_eq!(
        changes.last().expect("audited")["changed"],
        json!({ "waitlistAutoOffer": "sequential" })
    );
}

#[tokio::test]
async fn a_cancelled_appointment_is_offered_to_the_best_ranked_entry_when_sequential() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let booked_patient = patient(&app, &c.admin, "MRN-BOOKED").await;
    let second = patient(&app, &c.admin, "MRN-TWO").await;
    let appointment = booked(
        &app,
        &c.admin,
        &booked_patient,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;
    let routine = added(&app, &c.admin, &c.patient, json!({})).await;
    let urgent = added(&app, &c.admin, &second, json!({ "priority": "URGENT" })).await;
    let org = c.admin.organization_id.to_string();

    set_mode(&app, &c.admin, "sequential").await;

    let cancelled = app
        .json_as(
            &c.scheduler,
            Method::POST,
            &format!("/api/appointments/{}/cancel", id(&appointment)),
            &json!({ "reason": "Family emergency" }),
        )
        .await;

    assert_eq!(cancelled.status, StatusCode::OK, "{}", text(&cancelled));
    assert_eq!(pending(&app, &org).await, vec![(id(&urgent), true)]);
    let made = audited(&app, c.admin.organization_id, "WAITLIST_OFFER_CREATE").await;
    assert_eq!(made.len(), 1);
    assert_eq!(made[0]["trigger"], "appointment_cancelled");
    assert!(
        !pending(&app, &org)
            .await
            .iter()
            .any(|(e, _)| *e == id(&routine)),
        "URGENT first"
    );
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn with_the_setting_off_nothing_is_offered() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let booked_patient = patient(&app, &c.admin, "MRN-BOOKED").await;
    let appointment = booked(
        &app,
        &c.admin,
        &booked_patient,
        &c.clinician,
        MONDAY_NINE,
        json!({}),
    )
    .await;
    added(&app, &c.admin, &c.patient, json!({})).await;

    let cancelled = app
        .json_as(
            &c.scheduler,
            Method::POST,
            &format!("/api/appointments/{}/cancel", id(&appointment)),
            &json!({ "reason": "Family emergency" }),
        )
        .await;

    assert_eq!(cancelled.status, StatusCode::OK);
    assert!(
        pending(&app, &c.admin.organization_id.to_string())
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_declined_offer_moves_to_the_next_entry_and_never_back() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let second = patient(&app, &c.admin, "MRN-TWO").await;
    let first = added(&app, &c.admin, &c.patient, json!({ "priority": "URGENT" })).await;
    let next = added(&app, &c.admin, &second, json!({})).await;
    set_mode(&app, &c.admin, "sequential").await;
    let outcome = offered(&app, &c.scheduler, &first, &c.clinician, MONDAY_NINE).await;
    let org = c.admin.organization_id.to_string();

    let declined = decide(
        &app,
        &c.scheduler,
        &outcome["offer"],
        "decline",
        json!({ "reason": "No" }),
    )
    .await;

    assert_eq!(declined.status, StatusCode::OK, "{}", text(&declined));
    assert_eq!(pending(&app, &org).await, vec![(id(&next), true)]);
    // The next one declines too: nobody is left who has not declined this slot.
    let owner = app.db().owner_pool().await;
    let auto_offer: String = sqlx::query_scalar(
        "SELECT id::text FROM waitlist_offers WHERE organization_id = $1::uuid AND status = 'PENDING'",
    )
    .bind(&org)
    .fetch_one(&owner)
    .await
    .expect("offer");
    owner.close().await;
    let again = decide(
        &app,
        &c.scheduler,
        &json!({ "id": auto_offer }),
        "decline",
        json!({ "reason": "No" }),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", text(&again));
    assert!(pending(&app, &org).await.is_empty());
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn an_expired_offer_swept_moves_to_the_next_entry() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let second = patient(&app, &c.admin, "MRN-TWO").await;
    let first = added(&app, &c.admin, &c.patient, json!({ "priority": "URGENT" })).await;
    let next = added(&app, &c.admin, &second, json!({})).await;
    set_mode(&app, &c.admin, "sequential").await;
    let outcome = offered(&app, &c.scheduler, &first, &c.clinician, MONDAY_NINE).await;
    expire_offer(&app, &outcome["offer"]).await;

    let swept = offers::sweep_all(app.state().db()).await.expect("sweep");

    assert_eq!((swept.offers, swept.auto_offers), (1, 1));
    assert_eq!(
        pending(&app, &c.admin.organization_id.to_string()).await,
        vec![(id(&next), true)]
    );
}

#[tokio::test]
async fn two_instances_sweeping_and_a_human_offering_the_slot_at_once_leave_one_offer() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let second = patient(&app, &c.admin, "MRN-TWO").await;
    let third = patient(&app, &c.admin, "MRN-THREE").await;
    let first = added(&app, &c.admin, &c.patient, json!({ "priority": "URGENT" })).await;
    added(&app, &c.admin, &second, json!({})).await;
    let human_choice = added(&app, &c.admin, &third, json!({})).await;
    set_mode(&app, &c.admin, "sequential").await;
    let outcome = offered(&app, &c.scheduler, &first, &c.clinician, MONDAY_NINE).await;
    expire_offer(&app, &outcome["offer"]).await;
    let other = app.another_instance().await;
    let org = c.admin.organization_id;
    let scheduler = app.user_in(org, Role::Scheduler).await;

    let (one, two, human) = tokio::join!(
        offers::sweep_organization(app.state().db(), org),
        offers::sweep_organization(other.state().db(), org),
        offer(
            &app,
            &scheduler,
            &human_choice,
            &c.clinician,
            MONDAY_NINE,
            json!({})
        ),
    );

    one.expect("first sweeper");
    two.expect("second sweeper");
    assert!(
        human.status == StatusCode::CREATED || human.status == StatusCode::CONFLICT,
        "{}",
        text(&human)
    );
    let live = pending(&app, &org.to_string()).await;
    assert_eq!(live.len(), 1, "{live:?}");
    let held: i64 = super::owner_scalar(
        &app,
        "SELECT count(*) FROM calendar_entries WHERE organization_id = $1::uuid AND status = 'HELD'",
        &org.to_string(),
    )
    .await;
    assert_eq!(held, 1);
    assert_ledger_balanced(&app, org).await;
}
