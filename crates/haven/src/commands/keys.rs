//! `haven keys rotate`, `list`, `rotate-data` and `rotate-master`.

use std::path::Path;

use anyhow::Context;

use crate::app::App;
use crate::auth::keys::{self, RotationReason};
use crate::config::Config;
use crate::crypto::{MasterKey, MasterKeySource, MasterKeys};
use crate::ids::OrganizationId;
use crate::kek::rotate_master as rewrap_all;
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

/// Re-wraps everything the master key wraps under the key in `new_key_file`. The keys it can
/// open with are the configured master key and previous key (whichever is not the new one).
#[expect(
    clippy::print_stdout,
    reason = "the command's result is for the operator"
)]
pub async fn rotate_master(config: Config, new_key_file: &Path, batch: i64) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=10_000).contains(&batch),
        "--batch must be between 1 and 10000"
    );
    let new = MasterKeySource::File(new_key_file.to_owned())
        .load()
        .context("--new-key-file")?;
    let current = config
        .master_key
        .load_existing()
        .context("the deployment's master key (HAVEN_MASTER_KEY_FILE)")?;
    let previous = config
        .previous_master_key
        .as_ref()
        .map(MasterKeySource::load)
        .transpose()
        .context("HAVEN_PREVIOUS_MASTER_KEY_FILE")?;
    let new_id = new.kek_id();
    let older: Vec<MasterKey> = previous
        .into_iter()
        .chain([current])
        .filter(|key| key.kek_id() != new_id)
        .collect();
    anyhow::ensure!(
        !older.is_empty(),
        "the new key is the master key already in use: generate a new one (`openssl rand -base64 \
         32`) and run the command with the current key as HAVEN_MASTER_KEY_FILE (nothing was \
         changed)"
    );
    let keys = MasterKeys::new(new, older);
    super::with_pool(
        &config.database,
        &config.data_dir,
        &config.bootstrap,
        config.auth.require_mfa_for_admins,
        |pool| async move {
            let report = rewrap_all(&pool, &keys, batch).await?;
            println!(
                "master key {new_id}: {} keys re-wrapped ({} deployment secrets, {} signing keys, \
                 {} organization keys in {} organizations); all {} wrapped keys are under it",
                report.rewrapped(),
                report.secrets,
                report.signing_keys,
                report.organization_keys,
                report.organizations,
                report.total
            );
            Ok(())
        },
    )
    .await
}
