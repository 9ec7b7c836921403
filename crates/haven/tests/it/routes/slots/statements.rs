//! The slot finder is one statement whatever the number of clinicians: measured by
//! PostgreSQL's own per-transaction counters (`pg_stat_xact_user_tables`), read in the
//! transaction that ran the search, for 1 and for 50 clinicians.

use haven::auth::caller::{AuthMethod, Caller};
use haven::domain::Role;
use haven::ids::{OrganizationId, UserId};
use haven::policy::appointments::find_slots;
use haven::store::slots::{self, SlotQuery};
use haven_testkit::TestApp;

/// Inserts `n` clinicians of `org`, each available 09:00–17:00 New York time, Monday to
/// Friday (as the owner: set-up, not the subject).
pub(super) async fn clinicians(app: &TestApp, org: OrganizationId, n: usize) -> Vec<UserId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let email = format!("slot-{i}-{}@example.org", uuid::Uuid::new_v4().simple());
        ids.push(app.db().create_user(org, Role::Clinician, &email).await);
    }
    let owner = app.db().owner_pool().await;
    sqlx::query(
        "WITH a AS (INSERT INTO clinician_availability (organization_id, clinician_id, time_zone, \
             buffer_minutes, effective_from) \
             SELECT $1, c, 'America/New_York', 10, '2027-01-01' FROM unnest($2::uuid[]) c RETURNING clinician_id) \
         INSERT INTO availability_rules (organization_id, id, clinician_id, day_of_week, start_time, end_time) \
         SELECT $1, gen_random_uuid(), a.clinician_id, d, '09:00', '17:00' FROM a, generate_series(1, 5) d",
    )
    .bind(org)
    .bind(&ids)
    .execute(&owner)
    .await
    .expect("availability");
    owner.close().await;
    ids
}

/// Runs the search over `ids` and answers (slots found, scans of each table in that
/// transaction).
async fn search(
    app: &TestApp,
    org: OrganizationId,
    ids: Vec<UserId>,
) -> (usize, Vec<(String, i64)>) {
    let caller = Caller {
        user_id: UserId::new(),
        organization_id: org,
        role: Role::Scheduler,
        session_id: uuid::Uuid::new_v4(),
        auth_method: AuthMethod::Bearer,
    };
    let may = find_slots(&caller, "find_slots").expect("allowed");
    let mut tx = app.state().db().begin_tenant(org, None).await.expect("tx");
    let query = SlotQuery {
        clinicians: Some(ids),
        service_code: None,
        duration_minutes: 60,
        from: "2027-03-15T00:00:00Z".parse().expect("from"),
        to: "2027-03-20T00:00:00Z".parse().expect("to"),
        granularity_minutes: 15,
        limit: 1000,
    };
    let (rows, _) = slots::find(&mut tx, &may, &query).await.expect("search");
    let scans: Vec<(String, i64)> = sqlx::query_as(
        "SELECT relname::text, coalesce(seq_scan, 0) + coalesce(idx_scan, 0) \
         FROM pg_stat_xact_user_tables WHERE relname = 'clinician_availability'",
    )
    .fetch_all(tx.conn())
    .await
    .expect("stats");
    tx.rollback().await.expect("rollback");
    (rows.len(), scans)
}

#[tokio::test]
async fn one_statement_reads_the_availability_once_for_1_or_50_clinicians() {
    let app = TestApp::new().await;
    let org = app.db().create_organization("Practice A").await;
    let many = clinicians(&app, org, 50).await;
    let one = vec![many[0]];

    let (one_found, one_scans) = search(&app, org, one).await;
    let (many_found, many_scans) = search(&app, org, many).await;

    // 5 days × 29 starts (09:00 to 16:00 every 15 minutes) per clinician.
    assert_eq!(one_found, 5 * 29);
    assert_eq!(many_found, 1000, "capped by the limit");
    assert_eq!(one_scans, vec![("clinician_availability".to_owned(), 1)]);
    assert_eq!(
        many_scans, one_scans,
        "the same plan, not a query per clinician"
    );
}
