//! Bringing the database up for `serve` and `migrate`: the embedded cluster or an external
//! server, migrations, and the first platform operator.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};

use super::bootstrap::{self, BootstrapOutcome};
use super::embedded::{EmbeddedDb, EmbeddedOptions, Sharing};
use super::hosts::Endpoints;
use super::{APP_ROLE, DATABASE_NAME, OWNER_ROLE, migrate, provision};
use crate::config::{BootstrapConfig, DatabaseConfig};

/// Where Haven's two roles connect, and the embedded cluster when Haven runs one.
#[derive(Debug)]
pub struct Database {
    app: Endpoints,
    owner: Option<Endpoints>,
    embedded: Option<EmbeddedDb>,
}

impl Database {
    /// Starts the embedded cluster (creating roles and database on first use), or takes the
    /// external URLs.
    pub async fn open(
        config: &DatabaseConfig,
        data_dir: &Path,
        sharing: Sharing,
    ) -> anyhow::Result<Self> {
        match config {
            DatabaseConfig::Embedded {
                pg_bin_dir,
                clusters_dir,
                wal_archive_dir,
            } => {
                let data_dir = data_dir.to_owned();
                let options = EmbeddedOptions {
                    pg_bin_dir: pg_bin_dir.clone(),
                    clusters_dir: clusters_dir.clone(),
                    wal_archive_dir: wal_archive_dir.clone(),
                };
                let embedded = tokio::task::spawn_blocking(move || {
                    EmbeddedDb::start(&data_dir, &options, sharing)
                })
                .await??;
                let mut superuser = PgConnection::connect_with(&embedded.superuser_options())
                    .await
                    .context("connecting to the embedded cluster as its superuser")?;
                provision::ensure_roles(&mut superuser).await?;
                if provision::ensure_database(&mut superuser, DATABASE_NAME).await? {
                    tracing::info!("created the haven database");
                }
                superuser.close().await?;
                Ok(Self {
                    app: Endpoints::single(embedded.connect_options(APP_ROLE, DATABASE_NAME)),
                    owner: Some(Endpoints::single(
                        embedded.connect_options(OWNER_ROLE, DATABASE_NAME),
                    )),
                    embedded: Some(embedded),
                })
            }
            DatabaseConfig::External { url, migrate_url } => Ok(Self {
                app: parse_url("HAVEN_DATABASE_URL", url)?,
                owner: migrate_url
                    .as_ref()
                    .map(|url| parse_url("HAVEN_MIGRATE_DATABASE_URL", url))
                    .transpose()?,
                embedded: None,
            }),
        }
    }

    /// Where the runtime (app role) pool connects: one host, or several to follow the primary
    /// among ([`super::hosts`]).
    #[must_use]
    pub fn app_endpoints(&self) -> Endpoints {
        self.app.clone()
    }

    /// Whether this process may migrate (it has the owner's connection).
    #[must_use]
    pub fn can_migrate(&self) -> bool {
        self.owner.is_some()
    }

    /// Applies migrations and creates the first SUPER_ADMIN when none exists. Needs the owner.
    /// With `require_mfa` (production), platform operators must enrol MFA before anything else.
    pub async fn migrate_and_bootstrap(
        &self,
        bootstrap: &BootstrapConfig,
        require_mfa: bool,
    ) -> anyhow::Result<BootstrapOutcome> {
        let owner = self.owner.as_ref().context(
            "migrations need the owner role: set HAVEN_MIGRATE_DATABASE_URL (or unset HAVEN_DATABASE_URL for the embedded database)",
        )?;
        // Migrations write: with several hosts, on the one that is the primary now.
        let options = owner.find().await.unwrap_or_else(|| owner.first());
        let owner: PgPool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.application_name("haven-migrate"))
            .await
            .context("connecting as the owner role")?;
        migrate::run(&owner).await?;
        let outcome = bootstrap::ensure_super_admin(&owner, bootstrap).await;
        if require_mfa {
            sqlx::query("UPDATE organizations SET require_mfa_for_admins = true WHERE is_platform")
                .execute(&owner)
                .await
                .context("requiring MFA of platform operators")?;
        }
        owner.close().await;
        outcome
    }

    /// Stops the embedded cluster, if any.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        if let Some(embedded) = self.embedded {
            tokio::task::spawn_blocking(move || embedded.stop()).await??;
        }
        Ok(())
    }
}

fn parse_url(key: &str, url: &SecretString) -> anyhow::Result<Endpoints> {
    // The URL holds a password: name the variable, never echo the value or sqlx's message.
    Endpoints::parse(url.expose_secret()).map_err(|error| anyhow::anyhow!("{key}: {error}"))
}
