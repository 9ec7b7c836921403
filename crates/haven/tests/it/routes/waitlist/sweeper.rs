//! The offer sweeper: set-based, one instance per practice at a time, one ledger row and one
//! audit row per expired offer; entries past their 90 days become EXPIRED.

use haven::scheduling::{holds, offers};
use haven_testkit::TestApp;
use serde_json::{Value, json};

use super::{added, expire_offer, offered, owner_exec, owner_scalar, waitlist_clinic};
use crate::fixtures::scheduling::Clinic;
use crate::fixtures::units::{
    assert_ledger_balanced, audited, authorization, get_authorization, ledger_rows, patient,
};

/// Three offers on Monday 2027-03-15 at 09:00, 11:00 and 13:00 New York time, to three
/// entries (the first two with authorizations of 40 units), all expired a minute ago (after
/// all three were made: a new offer expires the practice's expired ones at use).
async fn three_expired_offers(app: &TestApp, c: &Clinic) -> (Vec<Value>, Vec<String>) {
    let mut offers = Vec::new();
    let mut auths = Vec::new();
    for (i, start) in [
        "2027-03-15T13:00:00Z",
        "2027-03-15T15:00:00Z",
        "2027-03-15T17:00:00Z",
    ]
    .into_iter()
    .enumerate()
    {
        let who = if i == 0 {
            c.patient.clone()
        } else {
            patient(app, &c.admin, &format!("MRN-SWEEP-{i}")).await
        };
        let extra = if i < 2 {
            let auth = authorization(app, &c.admin, &who, 40).await;
            auths.push(auth.clone());
            json!({ "authorizationId": auth })
        } else {
            json!({})
        };
        let entry = added(app, &c.admin, &who, extra).await;
        let outcome = offered(app, &c.scheduler, &entry, &c.clinician, start).await;
        offers.push(outcome["offer"].clone());
    }
    for offer in &offers {
        expire_offer(app, offer).await;
    }
    (offers, auths)
}

#[tokio::test]
async fn each_expired_offer_is_released_with_one_ledger_row_and_one_audit_row() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let (offers, auths) = three_expired_offers(&app, &c).await;

    let swept = offers::sweep_all(app.state().db()).await.expect("sweep");
    let again = offers::sweep_all(app.state().db()).await.expect("again");

    assert_eq!((swept.offers, swept.units), (3, 8));
    assert_eq!((again.offers, again.units), (0, 0));
    for auth in &auths {
        assert_eq!(
            ledger_rows(&app, auth).await,
            vec![("RESERVE".to_owned(), 4), ("RELEASE".to_owned(), -4)]
        );
        assert_eq!(
            get_authorization(&app, &c.admin, auth).await["usedUnits"],
            0
        );
    }
    for offer in &offers {
        let (offer_status, appointment_status): (String, String) = {
            let owner = app.db().owner_pool().await;
            let row = sqlx::query_as(
                "SELECT o.status, e.status FROM waitlist_offers o \
                 JOIN calendar_entries e ON e.organization_id = o.organization_id AND e.id = o.appointment_id \
                 WHERE o.id = $1::uuid",
            )
            .bind(offer["id"].as_str().expect("id"))
            .fetch_one(&owner)
            .await
            .expect("row");
            owner.close().await;
            row
        };
        assert_eq!(
            (offer_status.as_str(), appointment_status.as_str()),
            ("EXPIRED", "CANCELLED")
        );
    }
    let events = audited(&app, c.admin.organization_id, "WAITLIST_OFFER_EXPIRED").await;
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["trigger"] == "background"));
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn two_sweepers_at_once_release_each_offer_once() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let (_, auths) = three_expired_offers(&app, &c).await;
    let org = c.admin.organization_id;
    let other = app.another_instance().await;

    let (first, second) = tokio::join!(
        offers::sweep_organization(app.state().db(), org),
        offers::sweep_organization(other.state().db(), org),
    );

    let released: i64 = [first.expect("first"), second.expect("second")]
        .into_iter()
        .flatten()
        .map(|(swept, _)| swept.offers)
        .sum();
    assert_eq!(released, 3);
    for auth in &auths {
        assert_eq!(
            ledger_rows(&app, auth).await.len(),
            2,
            "RESERVE and one RELEASE"
        );
    }
    assert_eq!(audited(&app, org, "WAITLIST_OFFER_EXPIRED").await.len(), 3);
    assert_ledger_balanced(&app, org).await;
}

#[tokio::test]
async fn a_hold_released_by_the_hold_job_first_is_not_released_twice() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let (_, auths) = three_expired_offers(&app, &c).await;

    let (holds_released, _) = holds::expire_all(app.state().db()).await.expect("holds");
    let swept = offers::sweep_all(app.state().db()).await.expect("sweep");

    assert_eq!(holds_released, 3);
    assert_eq!((swept.offers, swept.units), (3, 0));
    for auth in &auths {
        assert_eq!(
            ledger_rows(&app, auth).await.len(),
            2,
            "RESERVE and one RELEASE"
        );
    }
    assert_ledger_balanced(&app, c.admin.organization_id).await;
}

#[tokio::test]
async fn entries_past_90_days_expire() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;
    let id = entry["id"].as_str().expect("id");
    owner_exec(
        &app,
        "UPDATE waitlist_entries SET expires_at = now() - interval '1 second' WHERE id = $1::uuid",
        id,
    )
    .await;

    let swept = offers::sweep_all(app.state().db()).await.expect("sweep");

    assert_eq!(swept.entries, 1);
    let status: String = owner_scalar(
        &app,
        "SELECT status FROM waitlist_entries WHERE id = $1::uuid",
        id,
    )
    .await;
    assert_eq!(status, "EXPIRED");
}
