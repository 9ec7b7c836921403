//! `cleanup-stale` (SPEC §10): 1,000,000 sessions of one organization, of which 10,000 are stale
//! SCHEDULED reservations in the past, inserted as the owner with matching ledger rows and
//! `used_units` (the invariant holds before); then `haven maintenance cleanup-stale` (attached
//! to the running cluster) or `POST /api/admin/maintenance/cleanup-stale` as the ADMIN is timed.
//! Checked after: sessions cleaned, units recovered, one STALE_RELEASE ledger row and one
//! STALE_RESERVATION_RELEASED audit row per session, the invariant.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hyper::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection as _;
use uuid::Uuid;

use super::units::Ledger;
use super::{Report, labelled, verdict};
use crate::cli::{CleanupStaleArgs, CleanupVia};
use crate::db;
use crate::seed;
use crate::target::Target;

/// `cleanup-stale`.
pub async fn run(target: &Target, args: &CleanupStaleArgs) -> anyhow::Result<Report> {
    let server = target.started()?;
    anyhow::ensure!(
        args.stale <= args.sessions,
        "--stale must not exceed --sessions"
    );
    let org = seed::organization(target).await?;
    let patients = seed::patients(&target.api, &org, 0, 10, 8).await?;
    let org_id: Uuid = org.id.parse()?;
    let patient_ids: Vec<Uuid> = patients
        .iter()
        .map(|p| p.parse())
        .collect::<Result<_, _>>()?;
    let others = i64::try_from(args.sessions - args.stale)?;
    let stale = i64::try_from(args.stale)?;
    let auths = i32::try_from(args.authorizations)?;
    let mut owner = db::owner(server).await?;
    let seeding = Instant::now();
    // Authorizations (ids computed from i), then half of the others SCHEDULED in the future and
    // half COMPLETED in the past, then the stale ones (last: the background job, every 5 minutes,
    // must not find them first), each with its ledger rows; used_units from the sessions.
    let statements: [(&str, &str); 6] = [
        (
            "authorizations",
            "INSERT INTO authorizations (organization_id, id, patient_id, payer_name, service_code, \
             unit_minutes, total_units, start_date, end_date, low_units_threshold) \
         SELECT $1, ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, \
             ($2::uuid[])[1 + i % cardinality($2::uuid[])], 'Bench Health Plan', '97153', 15, 100000, \
             current_date - 400, current_date + 365, 10000 FROM generate_series(1, $3::int) AS i",
        ),
        (
            "future and completed sessions",
            "INSERT INTO therapy_sessions (organization_id, id, authorization_id, patient_id, \
             start_time, reserved_units, unit_minutes, status, actual_units, completed_at) \
         SELECT $1, haven_units.uuid_v7(), a.id, a.patient_id, \
             CASE WHEN i % 2 = 0 THEN now() + make_interval(mins => (60 + i % 100000)::int) ELSE now() - make_interval(mins => (120 + i % 100000)::int) END, \
             1, 15, CASE WHEN i % 2 = 0 THEN 'SCHEDULED' ELSE 'COMPLETED' END, \
             CASE WHEN i % 2 = 0 THEN NULL ELSE 1 END, CASE WHEN i % 2 = 0 THEN NULL ELSE now() END \
         FROM generate_series(1, $4::int8) AS i \
         JOIN authorizations a ON a.organization_id = $1 \
             AND a.id = ('00000000-0000-4000-8000-' || lpad((1 + i % $3)::text, 12, '0'))::uuid",
        ),
        (
            "their ledger rows",
            "INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, reason) \
         SELECT organization_id, authorization_id, id, 'RESERVE', reserved_units, 'session reserved' \
             FROM therapy_sessions WHERE organization_id = $1 \
         UNION ALL \
         SELECT organization_id, authorization_id, id, 'CONSUME', 0, 'consumed 1 of 1 reserved units' \
             FROM therapy_sessions WHERE organization_id = $1 AND status = 'COMPLETED'",
        ),
        (
            "stale sessions",
            "INSERT INTO therapy_sessions (organization_id, id, authorization_id, patient_id, \
             start_time, reserved_units, unit_minutes) \
         SELECT $1, haven_units.uuid_v7(), a.id, a.patient_id, now() - make_interval(mins => (180 + i % 10000)::int), 1, 15 \
         FROM generate_series(1, $5::int8) AS i \
         JOIN authorizations a ON a.organization_id = $1 \
             AND a.id = ('00000000-0000-4000-8000-' || lpad((1 + i % $3)::text, 12, '0'))::uuid",
        ),
        (
            "their ledger rows",
            "INSERT INTO unit_ledger (organization_id, authorization_id, session_id, kind, units, reason) \
         SELECT organization_id, authorization_id, id, 'RESERVE', reserved_units, 'session reserved' \
             FROM therapy_sessions WHERE organization_id = $1 AND status = 'SCHEDULED' \
             AND start_time < now() - interval '1 hour'",
        ),
        (
            "used units",
            "UPDATE authorizations a SET used_units = c.n FROM \
             (SELECT authorization_id, count(*)::int AS n FROM therapy_sessions WHERE organization_id = $1 \
              GROUP BY authorization_id) c WHERE a.organization_id = $1 AND a.id = c.authorization_id",
        ),
    ];
    // Values only (uuids and integers), spelled into the text: one simple query each.
    let patients_array = patient_ids
        .iter()
        .map(|p| format!("'{p}'"))
        .collect::<Vec<_>>()
        .join(",");
    for (what, sql) in statements {
        let text = sql
            .replace("$1", &format!("'{org_id}'::uuid"))
            .replace("$2", &format!("ARRAY[{patients_array}]"))
            .replace("$3", &auths.to_string())
            .replace("$4", &others.to_string())
            .replace("$5", &stale.to_string());
        sqlx::raw_sql(sqlx::AssertSqlSafe(text))
            .execute(&mut owner)
            .await
            .with_context(|| format!("inserting the {what}"))?;
    }
    for table in ["authorizations", "therapy_sessions", "unit_ledger"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM (ANALYZE) {table}")))
            .execute(&mut owner)
            .await?;
    }
    let seeded = seeding.elapsed();
    let before = Ledger::check(server, org_id, None).await?;
    anyhow::ensure!(
        before.inconsistent == 0,
        "the seeded ledger is inconsistent: {}",
        before.text()
    );

    let started = Instant::now();
    let answer: Value = match args.via {
        CleanupVia::Cli => {
            let output = server
                .command()
                .args(["maintenance", "cleanup-stale"])
                .stdin(Stdio::null())
                .output()
                .await
                .context("running haven maintenance cleanup-stale")?;
            if !output.status.success() {
                bail!(
                    "haven maintenance cleanup-stale failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            serde_json::from_slice(&output.stdout).context("its output is not JSON")?
        }
        CleanupVia::Api => target
            .api
            .post(
                "/api/admin/maintenance/cleanup-stale",
                &json!({}),
                Some(&org.admin_token),
            )
            .await?
            .json(StatusCode::OK, "cleaning up")?,
    };
    let elapsed = started.elapsed();
    let cleaned = answer["sessionsCleaned"].as_i64().unwrap_or(-1);
    let recovered = answer["totalUnitsRecovered"].as_i64().unwrap_or(-1);

    db::wait_for_empty_outbox(
        &mut owner,
        Duration::from_millis(100),
        Duration::from_secs(600),
    )
    .await?;
    let (audit_rows, ledger_rows, cancelled): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM audit_log WHERE organization_id = $1 AND action = 'STALE_RESERVATION_RELEASED'), \
                (SELECT count(*) FROM unit_ledger WHERE organization_id = $1 AND kind = 'STALE_RELEASE'), \
                (SELECT count(*) FROM therapy_sessions WHERE organization_id = $1 AND status = 'CANCELLED')",
    )
    .bind(org_id)
    .fetch_one(&mut owner)
    .await?;
    owner.close().await?;
    let after = Ledger::check(server, org_id, None).await?;
    anyhow::ensure!(
        after.inconsistent == 0,
        "LEDGER INVARIANT BROKEN: {}",
        after.text()
    );
    anyhow::ensure!(
        cleaned == stale
            && recovered == stale
            && audit_rows == stale
            && ledger_rows == stale
            && cancelled == stale
            && after.used == before.used - stale,
        "expected {stale} cleaned: answer {answer}, {audit_rows} audit rows, {ledger_rows} ledger rows, {cancelled} cancelled, {}",
        after.text()
    );
    let via = match args.via {
        CleanupVia::Cli => {
            "haven maintenance cleanup-stale (a new process attached to the running cluster; wall time includes its start-up)"
        }
        CleanupVia::Api => "POST /api/admin/maintenance/cleanup-stale as the ADMIN",
    };
    let rows = vec![
        (
            "scenario",
            format!(
                "stale cleanup: {} sessions in one organization ({} stale SCHEDULED in the past), {} authorizations",
                args.sessions, args.stale, args.authorizations
            ),
        ),
        (
            "seeding",
            format!(
                "{:.1} s (as the owner, then VACUUM ANALYZE)",
                seeded.as_secs_f64()
            ),
        ),
        ("ledger before", before.text()),
        ("via", via.to_owned()),
        ("answer", answer.to_string()),
        ("elapsed", format!("{:.3} s", elapsed.as_secs_f64())),
        (
            "checked",
            format!(
                "{cleaned} sessions cleaned, {recovered} units recovered, {audit_rows} STALE_RESERVATION_RELEASED audit rows, {ledger_rows} STALE_RELEASE ledger rows, {cancelled} sessions CANCELLED"
            ),
        ),
        ("ledger after", after.text()),
        (
            "SPEC §10 target",
            format!(
                "< 1 s, one audit row each: {}",
                verdict(elapsed < Duration::from_secs(1) && audit_rows == stale)
            ),
        ),
    ];
    let json = json!({
        "scenario": "cleanup-stale",
        "target": target.to_json(),
        "sessions": args.sessions, "stale": args.stale, "via": format!("{:?}", args.via),
        "seededSecs": seeded.as_secs_f64(), "elapsedSecs": elapsed.as_secs_f64(),
        "answer": answer, "auditRows": audit_rows, "ledgerRows": ledger_rows,
        "ledgerBefore": before.to_json(), "ledgerAfter": after.to_json(),
    });
    Ok(Report {
        rows: labelled(rows),
        json,
    })
}
