//! Matching is one statement whatever the number of entries: every statement sqlx runs for
//! the request is counted (its `sqlx::query` event inside the request's span, seen by a
//! subscriber local to this test's thread), with 1 and with 500 waiting entries, both ways.

use axum::http::StatusCode;
use haven_testkit::{TestApp, TestUser};
use serde_json::{Value, json};

use super::{MONDAY_NINE, added, seed_entries, waitlist_clinic};
use crate::fixtures::scheduling::text;
use crate::fixtures::statements::count_in;

/// `GET path` as `user`: the body and the statements the request ran.
async fn counted(app: &TestApp, user: &TestUser, path: &str) -> (Value, usize) {
    let (statements, guard) = count_in("request", "haven::http::context");
    let response = app.get_as(user, path).await;
    drop(guard);
    assert_eq!(response.status, StatusCode::OK, "{}", text(&response));
    (response.json(), statements.count())
}

#[tokio::test]
async fn one_or_five_hundred_entries_take_the_same_statements_both_ways() {
    let app = TestApp::new().await;
    let c = waitlist_clinic(&app, "Practice A").await;
    let entry = added(&app, &c.admin, &c.patient, json!({})).await;
    let id = entry["id"].as_str().expect("id");
    let slot = format!(
        "/api/waitlist/matches-for-slot?clinicianId={}&start={MONDAY_NINE}&durationMinutes=60&serviceCode=97153&limit=100",
        c.clinician.id
    );
    let matches =
        format!("/api/waitlist/{id}/matches?from=2027-03-15T00:00:00Z&to=2027-03-20T00:00:00Z");

    let (one_ranked, one_rank_statements) = counted(&app, &c.scheduler, &slot).await;
    let (one_slots, one_match_statements) = counted(&app, &c.scheduler, &matches).await;
    seed_entries(&app, c.admin.organization_id, 499, &["97153"]).await;
    let (many_ranked, many_rank_statements) = counted(&app, &c.scheduler, &slot).await;
    let (many_slots, many_match_statements) = counted(&app, &c.scheduler, &matches).await;

    assert_eq!(
        one_ranked["waitlistEntries"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        many_ranked["waitlistEntries"].as_array().map(Vec::len),
        Some(100)
    );
    assert_eq!(one_slots["slots"], many_slots["slots"]);
    assert!(one_rank_statements > 0);
    assert_eq!(
        many_rank_statements, one_rank_statements,
        "ranking 500 entries is the same statements as ranking 1"
    );
    assert_eq!(many_match_statements, one_match_statements);
}
