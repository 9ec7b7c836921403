//! `haven keys rotate` and `haven keys list`.

use crate::app::App;
use crate::auth::keys::{self, RotationReason};
use crate::ids::OrganizationId;
use crate::phi::{ENCRYPTED_COLUMNS, rotate_data_key};

/// Retires the signing key and signs with a new one from now on (every running instance picks
/// it up within a minute).
#[expect(
    clippy::print_stdout,
    reason = "the command's result is for the operator"
)]
pub async fn rotate(app: &App) -> anyhow::Result<()> {
    let kid = app.keys().rotate(RotationReason::Manual).await?;
    println!("now signing with key {kid}");
    Ok(())
}

/// Lists the keys: active, in grace (still verifying), or expired.
#[expect(
    clippy::print_stdout,
    reason = "the command's result is for the operator"
)]
pub async fn list(app: &App) -> anyhow::Result<()> {
    let keys = keys::list(app.db(), app.auth_config()).await?;
    println!("{:<24} {:<8} {:<26} retired", "kid", "status", "created");
    for key in keys {
        println!(
            "{:<24} {:<8} {:<26} {}",
            key.kid,
            key.status.as_str(),
            key.created_at.to_rfc3339(),
            key.retired_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        );
    }
    Ok(())
}

/// Rotates an organization's PHI data key and re-encrypts every registered column.
#[expect(
    clippy::print_stdout,
    reason = "the command's result is for the operator"
)]
pub async fn rotate_data(app: &App, org: OrganizationId, batch: i64) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=10_000).contains(&batch),
        "--batch must be between 1 and 10000"
    );
    let fields = rotate_data_key(app.db(), app.keyring(), org, batch, ENCRYPTED_COLUMNS).await?;
    println!("organization {org}: new data key in use; {fields} fields re-encrypted");
    Ok(())
}
