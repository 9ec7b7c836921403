//! `haven maintenance cleanup-stale [--older-than-minutes N]`.

use crate::app::App;
use crate::store::sessions_units::CleanupActor;
use crate::units::cleanup::{self, Wait};

/// Releases stale reservations in every organization and prints the JSON result (SPEC §5).
#[expect(
    clippy::print_stdout,
    reason = "the JSON result is the command's output"
)]
pub async fn cleanup_stale(app: &App, threshold_minutes: i32) -> anyhow::Result<()> {
    let actor = CleanupActor {
        user_id: None,
        role: None,
        request_id: None,
        trigger: "cli",
    };
    let report = cleanup::clean(app.db(), None, threshold_minutes, &actor, Wait::Block).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
