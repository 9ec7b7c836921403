//! `haven backup create` and `haven backup restore` (embedded database; for an external one the
//! README gives the same with PostgreSQL's own tools).
//!
//! A backup is PostgreSQL's base backup (`pg_basebackup`: consistent while the server serves)
//! plus `haven-backup.json`: when it was taken and a check value of the master key (a hash of a
//! key derived from it, which reveals nothing of the key). The master key itself is never in a
//! backup. A restore refuses a backup of another deployment (another key), a data directory that
//! already has a cluster, and a time before the backup was complete; then it copies the backup,
//! replays the WAL archive to the end or to the time asked, waits for the promotion and stops.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};

use crate::config::{Config, DatabaseConfig};
use crate::crypto::{MasterKey, MasterKeySource};
use crate::db::embedded::{self, BACKUP_MANIFEST, EmbeddedDb, EmbeddedOptions, Sharing};

/// How long a restore may replay before it gives up.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    format: u32,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    key_check: String,
}

/// A check value of the master key: hex of SHA-256 of a key derived for this purpose only.
fn key_check(key: &MasterKey) -> String {
    hex::encode(&Sha256::digest(key.derive("backup-key-check").as_slice())[..16])
}

/// Whether the backup was taken under one of `keys` (the master key, and the previous one
/// during or after a master-key rotation).
fn taken_under<'a>(manifest: &Manifest, mut keys: impl Iterator<Item = &'a MasterKey>) -> bool {
    keys.any(|key| key_check(key) == manifest.key_check)
}

fn embedded_options(config: &Config) -> anyhow::Result<EmbeddedOptions> {
    match &config.database {
        DatabaseConfig::Embedded {
            pg_bin_dir,
            clusters_dir,
            wal_archive_dir,
        } => Ok(EmbeddedOptions {
            pg_bin_dir: pg_bin_dir.clone(),
            clusters_dir: clusters_dir.clone(),
            wal_archive_dir: wal_archive_dir.clone(),
        }),
        DatabaseConfig::External { .. } => bail!(
            "haven backup works on the embedded database; for an external PostgreSQL use \
             pg_basebackup and WAL archiving as the README describes"
        ),
    }
}

/// The master key a restore must use: given, never generated (a new key could decrypt nothing).
fn existing_master_key(source: &MasterKeySource) -> anyhow::Result<MasterKey> {
    if let MasterKeySource::Generate { path } = source
        && !path.exists()
    {
        bail!(
            "the master key is not in the backup: set HAVEN_MASTER_KEY_FILE (or HAVEN_MASTER_KEY) \
             to the escrowed key of the deployment that was backed up ({} does not exist)",
            path.display()
        );
    }
    Ok(source.load()?)
}

/// `haven backup create --to DIR`.
#[expect(
    clippy::print_stdout,
    reason = "the command's result is for the operator"
)]
pub async fn create(config: &Config, to: &Path) -> anyhow::Result<()> {
    let options = embedded_options(config)?;
    let key = config.master_key.load()?;
    let started_at = Utc::now();
    let data_dir = config.data_dir.clone();
    let dest = to.to_owned();
    let db = tokio::task::spawn_blocking(move || {
        EmbeddedDb::start(&data_dir, &options, Sharing::AttachIfRunning)
    })
    .await??;
    let taken = {
        let dest = dest.clone();
        tokio::task::spawn_blocking(move || {
            let taken = db.base_backup(&dest);
            let stopped = db.stop();
            taken.and(stopped)
        })
        .await?
    };
    taken.with_context(|| format!("backing up into {}", dest.display()))?;
    let manifest = Manifest {
        format: 1,
        started_at,
        finished_at: Utc::now(),
        key_check: key_check(&key),
    };
    let path = dest.join(BACKUP_MANIFEST);
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "base backup in {} (taken {} to {}); the master key is not in it",
        dest.display(),
        manifest.started_at.to_rfc3339(),
        manifest.finished_at.to_rfc3339()
    );
    Ok(())
}

/// `haven backup restore --from DIR [--to-time T]`.
#[expect(
    clippy::print_stdout,
    reason = "the command's result is for the operator"
)]
pub async fn restore(config: &Config, from: &Path, to_time: Option<&str>) -> anyhow::Result<()> {
    let options = embedded_options(config)?;
    let manifest_path = from.join(BACKUP_MANIFEST);
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(&manifest_path)
            .with_context(|| format!("{} is not a Haven backup", from.display()))?,
    )
    .with_context(|| format!("reading {}", manifest_path.display()))?;
    let key = existing_master_key(&config.master_key)?;
    // A backup taken before a master-key rotation was taken under the previous key.
    let previous = config
        .previous_master_key
        .as_ref()
        .map(MasterKeySource::load)
        .transpose()?;
    if !taken_under(&manifest, std::iter::once(&key).chain(previous.as_ref())) {
        bail!(
            "this backup belongs to a deployment with another master key: set \
             HAVEN_MASTER_KEY_FILE to that deployment's key — for a backup taken before a \
             master-key rotation, the key in use then (nothing was changed)"
        );
    }
    let until = to_time
        .map(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .with_context(|| format!("--to-time {t:?} is not an RFC 3339 time"))
        })
        .transpose()?;
    if let Some(until) = until
        && until < manifest.finished_at
    {
        bail!(
            "--to-time {} is before the backup was complete ({}): choose a later time or an \
             older backup (nothing was changed)",
            until.to_rfc3339(),
            manifest.finished_at.to_rfc3339()
        );
    }
    let archive = options.wal_archive_dir.clone();
    if until.is_some() && archive.is_none() {
        bail!("--to-time needs the WAL archive: set HAVEN_WAL_ARCHIVE_DIR (nothing was changed)");
    }

    let data_dir = config.data_dir.clone();
    let from = from.to_owned();
    let target = until.map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string());
    let db = tokio::task::spawn_blocking(move || {
        embedded::restore(
            &data_dir,
            &options,
            &from,
            archive.as_deref(),
            target.as_deref(),
        )
    })
    .await??;
    let promoted = wait_for_promotion(&db).await;
    let stopped = tokio::task::spawn_blocking(move || db.stop()).await?;
    promoted?;
    stopped?;
    match until {
        Some(until) => println!(
            "restored into {} as of {}; start Haven on it (same master key)",
            config.data_dir.display(),
            until.to_rfc3339()
        ),
        None => println!(
            "restored into {} to the end of the backup and archive; start Haven on it (same \
             master key)",
            config.data_dir.display()
        ),
    }
    Ok(())
}

/// Polls the restored server until recovery has ended (it promotes at the target or at the end
/// of the WAL). A server that stops meanwhile (a target it cannot reach) fails the restore.
async fn wait_for_promotion(db: &EmbeddedDb) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + RECOVERY_TIMEOUT;
    loop {
        let state = async {
            let mut conn = PgConnection::connect_with(&db.superuser_options()).await?;
            let recovering: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                .fetch_one(&mut conn)
                .await?;
            conn.close().await?;
            anyhow::Ok(recovering)
        }
        .await;
        match state {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(error) if !db.is_running() => {
                return Err(error).context(
                    "the restored server stopped during recovery; see its server.log \
                     (pg/log) for why (a target time the archive does not reach?)",
                );
            }
            Err(_) => {}
        }
        if tokio::time::Instant::now() > deadline {
            bail!("recovery did not finish within {RECOVERY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_base64(&MasterKey::generate_base64()).expect("random key")
    }

    #[test]
    fn a_backup_from_before_a_rotation_is_recognised_by_the_previous_key_only() {
        let (old, new, other) = (key(), key(), key());
        let manifest = Manifest {
            format: 1,
            started_at: Utc::now(),
            finished_at: Utc::now(),
            key_check: key_check(&old),
        };

        assert!(taken_under(&manifest, [&new, &old].into_iter()));
        assert!(taken_under(&manifest, [&old].into_iter()));
        assert!(!taken_under(&manifest, [&new].into_iter()));
        assert!(!taken_under(&manifest, [&new, &other].into_iter()));
        assert!(!key_check(&old).contains(&hex::encode(old.expose())));
    }
}
