//! `haven audit verify [--org ID]`.

use std::time::Instant;

use anyhow::bail;

use crate::app::App;
use crate::audit::verify::verify_chain_in_segments;
use crate::ids::OrganizationId;

/// Seals what is pending, then verifies each chain; fails at the first break.
#[expect(
    clippy::print_stdout,
    reason = "the verification summary is for the operator"
)]
pub async fn verify(
    app: &App,
    org: Option<OrganizationId>,
    segments: Option<u16>,
) -> anyhow::Result<()> {
    let segments = segments.map_or_else(
        || std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
        usize::from,
    );
    app.sealer().flush().await?;
    let organizations = match org {
        Some(org) => vec![org],
        None => crate::store::organizations::all_ids(app.db()).await?,
    };
    let started = Instant::now();
    let mut total = 0;
    for organization in organizations {
        let report =
            verify_chain_in_segments(app.db(), organization, app.checkpoint_key(), segments)
                .await?;
        total += report.checked_entries;
        if let Some(sequence) = report.first_broken_sequence {
            println!(
                "organization {organization}: BROKEN at sequence {sequence} ({} entries intact before it)",
                report.checked_entries
            );
            bail!(
                "the audit chain of organization {organization} is broken at sequence {sequence}"
            );
        }
        println!(
            "organization {organization}: ok, {} entries",
            report.checked_entries
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "a rate for people to read")]
    let rate = total as f64 / seconds.max(1e-9);
    println!("verified {total} entries in {seconds:.2} s ({rate:.0} entries/s): all chains intact");
    Ok(())
}
