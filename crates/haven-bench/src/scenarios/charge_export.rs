//! `charge-export` (issue 18 "Measure"): `--charges` READY charges exported and downloaded, once
//! per format (`837p-json`, `csv`), each in a practice of its own seeded for it: 20 patients
//! with an authorization each through the API, then the completed sessions and their READY
//! charges set-based as the owner (what completing and signing would leave; an export reads
//! neither the ledger nor the notes). Needs `--start`.
//!
//! Reported per format: `POST /api/charge-exports` (selecting and recording the lines), the
//! download's first byte and whole body, its size, and the haven process's RSS and peak RSS
//! (VmHWM) before and after the download: a download that streams leaves the peak where it was.

use std::time::Instant;

use anyhow::{Context as _, bail};
use hyper::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;

use super::units::{authorizations, date, days_now};
use super::{Report, labelled};
use crate::cli::ChargeExportArgs;
use crate::db;
use crate::memory::{Memory, mib};
use crate::seed;
use crate::target::Target;

const PATIENTS: u32 = 20;
const SEED_PARALLEL: usize = 4;

/// Runs the scenario (see the module documentation).
pub async fn run(target: &Target, args: &ChargeExportArgs) -> anyhow::Result<Report> {
    let server = target.started()?;
    let api = &target.api;
    let mut rows = vec![(
        "scenario",
        format!(
            "charge-export: {} READY charges per format (20 patients), POST /api/charge-exports \
             then the download, as the practice's ADMIN",
            args.charges
        ),
    )];
    let mut results = Vec::new();
    for format in ["837p-json", "csv"] {
        let org = seed::organization(target).await?;
        let patients = seed::patients(api, &org, 0, u64::from(PATIENTS), SEED_PARALLEL).await?;
        authorizations(api, &org, &patients, PATIENTS, 100_000).await?;
        let mut owner = db::owner(server).await?;
        let per_authorization = args.charges.div_ceil(PATIENTS);
        let seeded = seed_charges(&mut owner, &org, per_authorization).await?;
        owner.close().await?;

        let started = Instant::now();
        let made = api
            .post(
                "/api/charge-exports",
                &json!({ "format": format, "from": date(days_now() - 300), "to": date(days_now() + 1) }),
                Some(&org.admin_token),
            )
            .await?
            .json(StatusCode::CREATED, "creating the export")?;
        let export_secs = started.elapsed().as_secs_f64();
        let export = &made["export"];
        let id = export["id"].as_str().context("the export's id")?;

        let before = target.memory();
        let started = Instant::now();
        let download = api
            .get_with(
                &format!("/api/charge-exports/{id}/download"),
                &org.admin_token,
            )
            .await?;
        let download_secs = started.elapsed().as_secs_f64();
        let after = target.memory();
        if download.status != StatusCode::OK {
            bail!("the download answered {}", download.status);
        }
        let bytes = download.body.len();
        rows.push((
            "export",
            format!(
                "{format}: {} charges ({seeded} seeded) exported in {export_secs:.2} s; \
                 downloaded {:.1} MB in {download_secs:.2} s; haven RSS {} → {}",
                export["chargeCount"],
                bytes as f64 / 1e6,
                memory(before),
                memory(after)
            ),
        ));
        results.push(json!({
            "format": format,
            "charges": export["chargeCount"],
            "exportSecs": export_secs,
            "downloadSecs": download_secs,
            "bytes": bytes,
            "memoryBefore": crate::memory::to_json(before),
            "memoryAfter": crate::memory::to_json(after),
        }));
    }
    Ok(Report {
        rows: labelled(rows),
        json: json!({
            "scenario": "charge-export",
            "target": target.to_json(),
            "charges": args.charges,
            "formats": Value::Array(results),
        }),
    })
}

/// `per_authorization` completed sessions for each of `org`'s authorizations, 30 minutes apart
/// going back from now, each with its READY charge; how many charges.
async fn seed_charges(
    owner: &mut sqlx::PgConnection,
    org: &seed::Organization,
    per_authorization: u32,
) -> anyhow::Result<u64> {
    let org_id: uuid::Uuid = org.id.parse()?;
    let provider: uuid::Uuid = org.admin_id.parse()?;
    let done = sqlx::query(
        "WITH s AS ( \
             INSERT INTO therapy_sessions (organization_id, id, authorization_id, patient_id, \
                 clinician_id, start_time, reserved_units, unit_minutes, actual_units, status, \
                 completed_at) \
             SELECT a.organization_id, gen_random_uuid(), a.id, a.patient_id, $2, \
                    now() - (g * interval '30 minutes'), 4, 15, 1 + g % 4, 'COMPLETED', now() \
             FROM authorizations a CROSS JOIN generate_series(1, $3) g \
             WHERE a.organization_id = $1 \
             RETURNING organization_id, id, authorization_id, patient_id, clinician_id, \
                       start_time, actual_units) \
         INSERT INTO charges (organization_id, session_id, authorization_id, patient_id, \
             rendering_provider_id, payer_name, service_date, cpt_code, diagnosis_codes, \
             diagnosis_pointers, units, cents_per_unit, charge_cents, status) \
         SELECT s.organization_id, s.id, s.authorization_id, s.patient_id, s.clinician_id, \
                a.payer_name, s.start_time::date, '97153', '{F84.0,Z63.8}', '{1,2}', \
                s.actual_units, 1750, s.actual_units * 1750, 'READY' \
         FROM s JOIN authorizations a \
           ON a.organization_id = s.organization_id AND a.id = s.authorization_id",
    )
    .bind(org_id)
    .bind(provider)
    .bind(i32::try_from(per_authorization)?)
    .execute(&mut *owner)
    .await
    .context("seeding completed sessions and READY charges")?;
    Ok(done.rows_affected())
}

fn memory(memory: Option<Memory>) -> String {
    memory.map_or("-".to_owned(), |m| {
        format!(
            "{:.1} MiB (peak {:.1} MiB)",
            mib(m.rss_kib),
            mib(m.peak_kib)
        )
    })
}
