//! Refusals under load: a refused request writes its audit row after its own transaction is
//! gone, so refusals never hold two connections and cannot starve other practices (issue 14,
//! item 4).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use haven::domain::Role;
use haven_testkit::TestApp;

use crate::fixtures::units::{authorization, practice, reserve};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_reservations_in_flood_leave_the_pool_to_other_practices() {
    // Arrange: practice A's clinician is not on the care team of the patient whose
    // authorization they hammer (each attempt takes the row lock, then is refused with an
    // audited 404); practice B reads its own patient meanwhile.
    let app = Arc::new(TestApp::new().await);
    let a = practice(&app, "Practice A").await;
    let auth = authorization(&app, &a.admin, &a.patient, 1_000).await;
    let outsider = app.user_in(a.admin.organization_id, Role::Clinician).await;
    let b = practice(&app, "Practice B").await;
    let deadline = Instant::now() + Duration::from_secs(10);

    // Act: 64 concurrent refused requests for 10 s, one legitimate read every 100 ms.
    let attackers: Vec<_> = (0..64)
        .map(|_| {
            let (app, outsider, auth) = (Arc::clone(&app), outsider.clone(), auth.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while Instant::now() < deadline {
                    statuses.push(reserve(&app, &outsider, &auth, 1).await.status);
                }
                statuses
            })
        })
        .collect();
    let mut reads = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let read = app
            .get_as(&b.admin, &format!("/api/patients/{}", b.patient))
            .await;
        reads.push((read.status, started.elapsed()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut refused = Vec::new();
    for attacker in attackers {
        refused.extend(attacker.await.expect("attacker task"));
    }

    // Assert: every legitimate read succeeded, quickly; every attack was refused as a 404
    // and audited; no unit moved.
    let mut latencies: Vec<Duration> = reads.iter().map(|(_, took)| *took).collect();
    latencies.sort();
    let p95 = latencies[latencies.len() * 95 / 100];
    eprintln!(
        "{} reads, p50 {:?}, p95 {p95:?}, {} refusals",
        reads.len(),
        latencies[latencies.len() / 2],
        refused.len()
    );
    assert!(reads.len() >= 10, "{} reads", reads.len());
    assert!(
        reads.iter().all(|(status, _)| *status == StatusCode::OK),
        "{:?}",
        reads
            .iter()
            .filter(|(s, _)| *s != StatusCode::OK)
            .collect::<Vec<_>>()
    );
    // The pool (8 connections here) is shared fairly: a read waits behind refusals that each
    // hold one connection at a time. Before the fix, refusals holding one connection while
    // waiting for a second exhausted the pool and reads failed after its 5 s acquire timeout.
    // Measured: p95 0.64 s on a 2-core machine at load 7 (debug build, other suites running).
    // The bound stays below the pool's 5 s acquire timeout, where the old failure shows, and
    // leaves room for a CI machine running the whole suite at once.
    assert!(p95 < Duration::from_secs(4), "p95 of reads {p95:?}");
    assert!(!refused.is_empty());
    assert!(
        refused
            .iter()
            .all(|status| *status == StatusCode::NOT_FOUND),
        "{:?}",
        refused
            .iter()
            .filter(|s| **s != StatusCode::NOT_FOUND)
            .take(5)
            .collect::<Vec<_>>()
    );
    let denied = app
        .audit_events(a.admin.organization_id)
        .await
        .into_iter()
        .filter(|(action, _, _)| action == "ACCESS_DENIED")
        .count();
    assert_eq!(denied, refused.len(), "each refusal audited once");
    let balance = app
        .get_as(&a.admin, &format!("/api/authorizations/{auth}"))
        .await
        .json();
    assert_eq!(balance["authorization"]["usedUnits"], 0);
}
