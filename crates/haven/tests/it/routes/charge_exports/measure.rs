//! The measurement of the issue (BENCHMARKS.md, "Charge exports"): exporting and downloading
//! 10,000 READY charges in each format, with the test process's peak RSS before and after the
//! download (the body is consumed frame by frame, never held). Ignored by default; run with
//! `cargo test -p haven --test it measure_charge_export -- --ignored --nocapture` (figures on stderr).

use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use haven_testkit::TestApp;
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use crate::fixtures::charges::charge_clinic;
use crate::fixtures::notes::text;
use crate::fixtures::units::{authorization_body, day, patient};

const PATIENTS: usize = 20;
const PER_PATIENT: i64 = 500;

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test]
#[ignore = "a measurement (BENCHMARKS.md), minutes long"]
async fn measure_charge_export_of_10000_ready_charges() {
    let app = TestApp::new().await;
    let k = charge_clinic(&app, "Bench Practice").await;
    for payer in ["Blue Harbor Health", "Cedar Mutual"] {
        for i in 0..PATIENTS {
            let p = patient(&app, &k.c.admin, &format!("MRN-{payer:.4}-{i}")).await;
            let mut body = authorization_body(&p, 100_000);
            body["payerName"] = json!(payer);
            body["startDate"] = json!(day(-400));
            let made = app
                .json_as(&k.c.admin, Method::POST, "/api/authorizations", &body)
                .await;
            assert_eq!(made.status, StatusCode::CREATED, "{}", text(&made));
        }
    }
    // 500 completed sessions per authorization and their READY charges, set-based as the owner
    // (what completing and signing would leave; the ledger is not read by an export).
    let owner = app.db().owner_pool().await;
    sqlx::query(
        "WITH s AS ( \
             INSERT INTO therapy_sessions (organization_id, id, authorization_id, patient_id, \
                 clinician_id, start_time, reserved_units, unit_minutes, actual_units, status, completed_at) \
             SELECT a.organization_id, gen_random_uuid(), a.id, a.patient_id, $2, \
                    now() - (g * interval '30 minutes'), 4, 15, 1 + g % 4, 'COMPLETED', now() \
             FROM authorizations a CROSS JOIN generate_series(1, $3) g \
             WHERE a.organization_id = $1 AND a.payer_name IN ('Blue Harbor Health', 'Cedar Mutual') \
               AND a.total_units = 100000 \
             RETURNING organization_id, id, authorization_id, patient_id, clinician_id, start_time, actual_units) \
         INSERT INTO charges (organization_id, session_id, authorization_id, patient_id, \
             rendering_provider_id, payer_name, service_date, cpt_code, diagnosis_codes, \
             diagnosis_pointers, units, cents_per_unit, charge_cents, status) \
         SELECT s.organization_id, s.id, s.authorization_id, s.patient_id, s.clinician_id, a.payer_name, \
                s.start_time::date, '97153', '{F84.0,Z63.8}', '{1,2}', s.actual_units, 1750, \
                s.actual_units * 1750, 'READY' \
         FROM s JOIN authorizations a ON a.organization_id = s.organization_id AND a.id = s.authorization_id",
    )
    .bind(k.c.admin.organization_id)
    .bind(k.c.author.id)
    .bind(PER_PATIENT)
    .execute(&owner)
    .await
    .expect("seed");
    owner.close().await;

    for (format, payer) in [("837p-json", "Blue Harbor Health"), ("csv", "Cedar Mutual")] {
        let started = Instant::now();
        let made = app
            .json_as(
                &k.c.billing,
                Method::POST,
                "/api/charge-exports",
                &json!({
                    "format": format, "from": day(-365), "to": day(1), "payerName": payer,
                }),
            )
            .await;
        let export_time = started.elapsed();
        assert_eq!(made.status, StatusCode::CREATED, "{}", text(&made));
        let export = made.json()["export"].clone();
        assert_eq!(export["chargeCount"], 10_000);

        let before = peak_kib();
        let started = Instant::now();
        let request = Request::builder()
            .method(Method::GET)
            .uri(format!(
                "/api/charge-exports/{}/download",
                export["id"].as_str().expect("id")
            ))
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", k.c.billing.token),
            )
            .body(Body::empty())
            .expect("request");
        let response = haven::build_router(app.state().clone())
            .oneshot(request)
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        let first_byte = started.elapsed();
        let mut body = response.into_body();
        let (mut bytes, mut frames) = (0usize, 0usize);
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("frame").into_data() {
                bytes += data.len();
                frames += 1;
            }
        }
        let download_time = started.elapsed();
        let after = peak_kib();
        eprintln!(
            "{format}: export {export_time:?}; download first byte {first_byte:?}, all {download_time:?}, \
             {bytes} bytes in {frames} frames; test process peak RSS {} KiB before, {} KiB after",
            before, after
        );
    }
}
