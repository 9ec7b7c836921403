//! The audit export and verification stream a whole chain in one statement; the request pool's
//! `statement_timeout` must not cut them. The app under test runs on a pool whose timeout is
//! [`SHORT`], over a chain long enough (and, for the export, a client slow enough) that every
//! stream outlives it; a control shows the same stream *is* cut without the export's setting.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use futures_util::TryStreamExt;
use haven::app::Settings;
use haven::audit::seal::Sealer;
use haven::db::AppPool;
use haven::domain::Role;
use haven::ids::OrganizationId;
use haven::{App, AppState, build_router};
use haven_testkit::{PASSWORD, TestDb, json_request, request, send};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::shared_master_key;

/// The request pool's statement timeout in these tests (30 s in production).
const SHORT: Duration = Duration::from_millis(250);
/// Events in the chain: several MB of export, and a verification walk well past [`SHORT`].
const EVENTS: i64 = 40_000;

struct LongChain {
    db: TestDb,
    state: AppState,
    router: Router,
    org: OrganizationId,
    token: String,
}

/// A practice with a chain of [`EVENTS`] sealed events (inserted as the owner and sealed over an
/// ordinary pool), and Haven over a pool whose statements time out after [`SHORT`], with a
/// logged-in COMPLIANCE user.
async fn long_chain() -> LongChain {
    let db = TestDb::new().await;
    let org = db.create_organization("Long Chain Practice").await;
    let owner = db.owner_pool().await;
    sqlx::query(
        "INSERT INTO audit_outbox (organization_id, id, occurred_at, user_id, role, action, \
             entity_type, entity_id, patient_id, access_method, outcome, ip, user_agent, \
             request_id, details) \
         SELECT $1, gen_random_uuid(), now() - make_interval(secs => ($2 - n) / 1000.0), \
             gen_random_uuid(), 'CLINICIAN', 'PATIENT_READ', 'patient', n::text, \
             gen_random_uuid(), 'normal', 'success', '203.0.113.7', \
             'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Firefox/128.0', \
             'req-' || n, jsonb_build_object('n', n, 'view', 'demographics') \
         FROM generate_series(1, $2) AS n",
    )
    .bind(org)
    .bind(EVENTS)
    .execute(&owner)
    .await
    .expect("recording the events");
    owner.close().await;
    let (master, cli_master) = shared_master_key();
    Sealer::new(db.app_pool().await, &cli_master)
        .flush()
        .await
        .expect("sealing the chain");

    let pool = AppPool::connect_with_statement_timeout(db.app_options(), 8, SHORT)
        .await
        .expect("the short-timeout pool");
    let state = AppState::new(
        App::start(pool, master, Settings::development())
            .await
            .expect("starting the app"),
    );
    let router = build_router(state.clone());
    let hash = haven::auth::password::hash(&PASSWORD.to_owned().into()).expect("hash");
    let email = format!("compliance-{}@example.org", uuid::Uuid::new_v4().simple());
    db.create_user_with_hash(org, Role::Compliance, &email, &hash)
        .await;
    let login = send(
        &router,
        json_request(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": email, "password": PASSWORD }),
            None,
        ),
    )
    .await;
    assert_eq!(login.status, StatusCode::OK);
    let token = login.json()["token"].as_str().expect("token").to_owned();
    LongChain {
        db,
        state,
        router,
        org,
        token,
    }
}

fn get(chain: &LongChain, path: &str) -> axum::http::Request<Body> {
    let mut req = request(Method::GET, path, Body::empty());
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {}", chain.token).parse().expect("header"),
    );
    req
}

async fn sealed(chain: &LongChain) -> i64 {
    let owner = chain.db.owner_pool().await;
    let n = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE organization_id = $1")
        .bind(chain.org)
        .fetch_one(&owner)
        .await
        .expect("count");
    owner.close().await;
    n
}

#[tokio::test]
async fn the_short_timeout_does_cut_a_stream_of_the_chain_read_without_the_exports_setting() {
    let chain = long_chain().await;

    // What the export did before: the same streaming read in a plain tenant transaction, read
    // by a client that stalls for a while.
    let mut tx = chain
        .state
        .db()
        .begin_tenant(chain.org, None)
        .await
        .expect("begin");
    let mut rows = sqlx::query_scalar::<_, i64>(
        "SELECT sequence FROM audit_log WHERE organization_id = $1 ORDER BY sequence",
    )
    .bind(chain.org)
    .fetch(tx.conn());
    rows.try_next().await.expect("the first row");
    tokio::time::sleep(SHORT * 4).await;
    let result: Result<Vec<i64>, sqlx::Error> = rows.try_collect().await;

    let error = result.expect_err("the statement outlived the pool's timeout");
    let code = error
        .as_database_error()
        .and_then(|e| e.code().map(|c| c.into_owned()));
    assert_eq!(code.as_deref(), Some("57014"), "query_canceled: {error}");
}

#[tokio::test]
async fn a_slow_client_gets_the_whole_audit_export_past_the_statement_timeout() {
    let chain = long_chain().await;

    let response = chain
        .router
        .clone()
        .oneshot(get(&chain, "/api/audit-logs/export?format=ndjson"))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    let first = body
        .frame()
        .await
        .expect("a first chunk")
        .expect("no error");
    bytes.extend_from_slice(first.data_ref().expect("data"));
    // The client stalls: the server's channel and socket fill, and its statement waits.
    tokio::time::sleep(SHORT * 4).await;
    let rest = body.collect().await.expect("the export was not cut");
    bytes.extend_from_slice(&rest.to_bytes());

    let text = String::from_utf8(bytes).expect("utf-8");
    let mut sequences: Vec<i64> = text
        .lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line).expect("a whole JSON line");
            entry["sequence"].as_i64().expect("sequence")
        })
        .collect();
    assert!(sequences.len() > usize::try_from(EVENTS).expect("fits"));
    sequences.sort_unstable();
    assert!(
        sequences.iter().copied().eq(1..=sealed(&chain).await),
        "every sealed event, once"
    );
}

#[tokio::test]
async fn verifying_a_chain_longer_than_the_statement_timeout_completes() {
    let chain = long_chain().await;

    let started = Instant::now();
    let response = send(&chain.router, get(&chain, "/api/audit-logs/verify")).await;
    let elapsed = started.elapsed();

    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    let report = response.json();
    assert_eq!(report["valid"], true);
    assert_eq!(report["checkedEntries"], sealed(&chain).await);
    assert!(
        elapsed > SHORT * 2,
        "verified in {elapsed:?}: too short a walk to show anything, raise EVENTS"
    );

    // `haven audit verify`: the same walk through the command's code path.
    haven::commands::audit::verify(&chain.state, Some(chain.org), None)
        .await
        .expect("the command verifies the whole chain");
}
