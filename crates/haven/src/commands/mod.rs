//! The `haven` subcommands.

mod admin;
pub mod audit;
mod backup;
pub mod keys;
mod maintenance;
mod serve;

use anyhow::Context;

use crate::app::{App, Settings};
use crate::cli::{
    AdminCommand, AuditCommand, BackupCommand, Command, KeysCommand, MaintenanceCommand,
};
use crate::config::{BootstrapConfig, Config, DatabaseConfig};
use crate::db::embedded::Sharing;
use crate::db::{AppPool, Database};

/// Runs `command` (`serve` when none).
pub async fn run(command: Option<Command>, config: Config) -> anyhow::Result<()> {
    match command.unwrap_or(Command::Serve) {
        Command::Serve => serve::serve(config).await,
        Command::Migrate => serve::migrate(config).await,
        Command::Admin { command } => {
            with_app(config, |app| async move {
                match command {
                    AdminCommand::CreateOrg(args) => admin::create_org(&app, args).await,
                    AdminCommand::CreateUser(args) => admin::create_user(&app, args).await,
                }
            })
            .await
        }
        Command::Audit {
            command: AuditCommand::Verify { org, segments },
        } => {
            with_app(config, |app| async move {
                audit::verify(&app, org, segments).await
            })
            .await
        }
        Command::Maintenance {
            command: MaintenanceCommand::CleanupStale { older_than_minutes },
        } => {
            let threshold = older_than_minutes.unwrap_or(config.stale_threshold_minutes);
            with_app(config, |app| async move {
                maintenance::cleanup_stale(&app, threshold).await
            })
            .await
        }
        Command::Backup {
            command: BackupCommand::Create { to },
        } => backup::create(&config, &to).await,
        Command::Backup {
            command: BackupCommand::Restore { from, to_time },
        } => backup::restore(&config, &from, to_time.as_deref()).await,
        Command::Keys { command } => match command {
            KeysCommand::Rotate => {
                with_app(config, |app| async move { keys::rotate(&app).await }).await
            }
            KeysCommand::List => {
                with_app(config, |app| async move { keys::list(&app).await }).await
            }
            KeysCommand::RotateData { org, batch } => {
                with_app(config, move |app| async move {
                    keys::rotate_data(&app, org, batch).await
                })
                .await
            }
            KeysCommand::RotateMaster {
                new_key_file,
                batch,
            } => keys::rotate_master(config, &new_key_file, batch).await,
        },
    }
}

/// Runs `work` against the application (database up and migrated, keys loaded), beside a
/// running server if there is one, then shuts down what it started.
async fn with_app<F, Fut>(config: Config, work: F) -> anyhow::Result<()>
where
    F: FnOnce(App) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let master_keys = config.load_master_keys()?;
    let Config {
        database,
        data_dir,
        bootstrap,
        request_timeout,
        auth,
        stale_threshold_minutes,
        realtime_max_lifetime,
        ..
    } = config;
    let require_mfa_for_admins = auth.require_mfa_for_admins;
    let settings = Settings {
        request_timeout,
        auth,
        stale_threshold_minutes,
        realtime_max_lifetime,
    };
    with_pool(
        &database,
        &data_dir,
        &bootstrap,
        require_mfa_for_admins,
        |pool| async move {
            let app = App::start(pool, master_keys, settings).await?;
            work(app).await
        },
    )
    .await
}

/// Runs `work` with the runtime pool (database up and migrated), beside a running server if
/// there is one, then shuts down what it started.
pub(crate) async fn with_pool<F, Fut>(
    database: &DatabaseConfig,
    data_dir: &std::path::Path,
    bootstrap: &BootstrapConfig,
    require_mfa_for_admins: bool,
    work: F,
) -> anyhow::Result<()>
where
    F: FnOnce(AppPool) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let database = Database::open(database, data_dir, Sharing::AttachIfRunning).await?;
    let result = async {
        if database.can_migrate() {
            serve::announce(
                database
                    .migrate_and_bootstrap(bootstrap, require_mfa_for_admins)
                    .await?,
            );
        }
        let pool = AppPool::connect_endpoints(database.app_endpoints(), 4)
            .await
            .context("connecting as the runtime role")?;
        let result = work(pool.clone()).await;
        pool.close().await;
        result
    }
    .await;
    let stopped = database.shutdown().await;
    result.and(stopped)
}
