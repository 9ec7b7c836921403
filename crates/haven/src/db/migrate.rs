//! Schema migrations: SQL files under `crates/haven/migrations`, embedded in the binary, never
//! edited once landed (expand/contract). They run as the owner role; sqlx holds an advisory lock
//! while they run, so several instances starting at once apply each migration once.

use anyhow::{Context, bail};
use sqlx::PgPool;
use sqlx::migrate::Migrator;

use super::{APP_ROLE, catalog};

/// The migrations this binary carries.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The versions this binary needs applied.
pub fn required_versions() -> impl Iterator<Item = i64> {
    MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
}

/// Applies pending migrations as the owner, then refuses to go on if the schema breaks one of
/// the catalog invariants (a migration that forgot RLS, a tenant key, a pinned search_path...).
pub async fn run(owner: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(owner)
        .await
        .context("applying database migrations")?;
    let mut conn = owner.acquire().await?;
    let violations = catalog::check_schema(&mut conn, APP_ROLE).await?;
    if !violations.is_empty() {
        let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
        bail!(
            "the database schema breaks Haven's tenancy invariants:\n  {}",
            list.join("\n  ")
        );
    }
    Ok(())
}
