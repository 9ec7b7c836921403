//! `haven serve` and `haven migrate`: the process lifecycle around the library.

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use std::future::Future;
use std::time::Duration;

use crate::app::{App, AppState, Settings};
use crate::config::Config;
use crate::crypto::MasterKeys;
use crate::db::bootstrap::BootstrapOutcome;
use crate::db::embedded::Sharing;
use crate::db::{AppPool, Database};
use crate::server::{build_router, launch};
use crate::telemetry::{metrics, metrics_server};

/// Runs the API until SIGINT or SIGTERM: database up (embedded cluster started, migrations and
/// bootstrap when this process has the owner role), listener bound, then a graceful drain and
/// the cluster stopped.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let master_keys = config.load_master_keys()?;
    let database = Database::open(&config.database, &config.data_dir, Sharing::Exclusive).await?;
    let result = serve_with(config, &database, master_keys).await;
    let stopped = database.shutdown().await;
    result.and(stopped)
}

async fn serve_with(
    config: Config,
    database: &Database,
    master_keys: MasterKeys,
) -> anyhow::Result<()> {
    if database.can_migrate() {
        announce(
            database
                .migrate_and_bootstrap(&config.bootstrap, config.auth.require_mfa_for_admins)
                .await?,
        );
    }
    let pool = AppPool::connect_endpoints(database.app_endpoints(), config.db_max_connections)
        .await
        .context("connecting as the runtime role")?;
    let violations = pool.check_runtime_role().await?;
    if !violations.is_empty() {
        let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
        anyhow::bail!(
            "refusing to serve: the runtime database role could bypass row-level security: {}",
            list.join("; ")
        );
    }
    let key_check_every = config.auth.key_check_every;
    let settings = Settings {
        request_timeout: config.request_timeout,
        auth: config.auth,
        stale_threshold_minutes: config.stale_threshold_minutes,
        realtime_max_lifetime: config.realtime_max_lifetime,
    };
    let state = AppState::new(App::start(pool.clone(), master_keys, settings).await?);
    // Every instance picks up keys rotated elsewhere; one at a time rotates when due.
    let refresher = state.keys().spawn_refresher(Duration::from_secs(30));
    let rotation = state.keys().spawn_rotation_job(key_check_every);
    // Every instance re-reads the revoked sessions and users twice a second (SPEC §5).
    let revocations = state
        .revocations()
        .spawn_refresher(crate::auth::revocation::REFRESH_INTERVAL);
    let sealer = state.sealer().clone().spawn();
    // Releases reservations left open past their end (crashed clients); one instance per
    // organization at a time.
    let stale_cleanup = crate::units::cleanup::spawn(
        pool.clone(),
        config.stale_cleanup_interval,
        config.stale_threshold_minutes,
    );
    // Releases appointment holds past their expiry; one instance per organization at a time.
    let hold_expiry =
        crate::scheduling::holds::spawn(pool.clone(), crate::scheduling::holds::INTERVAL);
    // Expires waitlist offers (releasing their holds and units) and entries past 90 days; one
    // instance per organization at a time.
    let offer_expiry =
        crate::scheduling::offers::spawn(pool.clone(), crate::scheduling::offers::INTERVAL);
    // Flags drafts past due as overdue (they stay editable); one instance per organization.
    let note_overdue = crate::notes::overdue::spawn(pool.clone(), crate::notes::overdue::INTERVAL);
    // Re-evaluates open charges' holds daily; one instance per organization.
    let charge_holds = crate::charges::holds::spawn(pool.clone(), crate::charges::holds::INTERVAL);
    if let Some(url) = config.security_webhook_url {
        state.security_signals().attach_webhook(url)?;
    }
    // Records BTG_EXPIRED for lapsed emergency grants (access itself never waits for it).
    let btg_expiry = crate::btg::expiry::spawn(pool.clone(), crate::btg::expiry::INTERVAL);
    // Reads the sealed audit chains for breach patterns; one instance at a time.
    let breach_detector = match config.breach_detector_interval {
        Some(every) => Some(crate::security::detector::spawn(state.clone(), every)),
        None => {
            tracing::warn!(
                "the breach detector is switched off (HAVEN_BREACH_DETECTOR_SECS=off): no security incident will be opened"
            );
            None
        }
    };
    // Pushes the sealed chain's events to the realtime sockets: with Redis one leader reads and
    // publishes and every instance delivers, without it each instance reads for itself.
    if let Some(url) = &state.auth_config().redis_url {
        // Five sockets per user across every instance, not per instance.
        let cap =
            crate::realtime::cap::SharedCap::connect(url, &state.auth_config().redis_key_prefix)
                .await
                .context("connecting the realtime socket cap to Redis (HAVEN_REDIS_URL)")?;
        state.realtime().share_cap(cap);
    }
    let realtime_tasks = match &state.auth_config().redis_url {
        Some(url) => crate::realtime::fanout::spawn(
            url,
            &state.auth_config().redis_key_prefix,
            pool.platform().pool().clone(),
            state.realtime().clone(),
            crate::realtime::tailer::INTERVAL,
        )
        .await
        .context("connecting the realtime fan-out to Redis (HAVEN_REDIS_URL)")?,
        None => vec![crate::realtime::tailer::spawn(
            pool.platform().pool().clone(),
            state.realtime().clone(),
            crate::realtime::tailer::INTERVAL,
        )],
    };
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let upkeep = metrics::spawn_upkeep(metrics::UPKEEP_INTERVAL);
    let metrics_listener = match config.metrics_bind {
        Some(bind) => {
            let listener = TcpListener::bind(bind).await.with_context(|| {
                format!(
                    "binding the metrics listener {bind} (HAVEN_METRICS_BIND; `off` disables it)"
                )
            })?;
            let address = listener.local_addr()?;
            tracing::info!(%address, "metrics are served at /metrics");
            let state = state.clone();
            Some(tokio::spawn(async move {
                if let Err(error) =
                    metrics_server::serve(listener, state, std::future::pending()).await
                {
                    tracing::error!(error = %crate::telemetry::loggable(&error), "the metrics listener failed");
                }
            }))
        }
        None => None,
    };
    // Upgraded sockets are no longer connections the server drains: at the signal they are
    // closed with 1001 (going away), and their disconnects audited before the sealer's flush.
    let hub = state.realtime().clone();
    let signal = shutdown_signal();
    let shutdown = async move {
        signal.await;
        hub.close_all();
    };
    let address = listener.local_addr()?;
    tracing::info!(%address, "haven is listening");
    let state_for_shutdown = state.clone();
    launch(listener, build_router(state), shutdown).await?;
    tracing::info!("stopped accepting requests; in-flight requests finished");
    let hub = state_for_shutdown.realtime();
    let closing = tokio::time::Instant::now() + Duration::from_secs(5);
    while hub.connections() > 0 && tokio::time::Instant::now() < closing {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for task in realtime_tasks {
        task.abort();
    }
    upkeep.abort();
    if let Some(listener) = metrics_listener {
        listener.abort();
    }
    refresher.abort();
    rotation.abort();
    revocations.abort();
    sealer.abort();
    stale_cleanup.abort();
    hold_expiry.abort();
    offer_expiry.abort();
    note_overdue.abort();
    charge_holds.abort();
    btg_expiry.abort();
    if let Some(detector) = breach_detector {
        detector.abort();
    }
    // Seal what the last requests recorded, briefly: whatever is left waits in the outbox for
    // the next start (nothing is lost).
    match tokio::time::timeout(Duration::from_secs(5), state_for_shutdown.sealer().flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(error = %crate::telemetry::loggable(&error), "sealing the last audit events failed; they wait in the outbox")
        }
        Err(_) => tracing::warn!(
            "audit events still pending at shutdown wait in the outbox for the next start"
        ),
    }
    pool.close().await;
    Ok(())
}

/// `haven migrate`: migrations and bootstrap, then exit.
pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let database = Database::open(&config.database, &config.data_dir, Sharing::Exclusive).await?;
    let result = database
        .migrate_and_bootstrap(&config.bootstrap, config.auth.require_mfa_for_admins)
        .await;
    let stopped = database.shutdown().await;
    announce(result?);
    tracing::info!("migrations applied");
    stopped
}

/// Shows a generated bootstrap password once, on the terminal, not in the logs.
#[expect(
    clippy::print_stdout,
    reason = "the one-time password goes to the operator, never to the log pipeline"
)]
pub(super) fn announce(outcome: BootstrapOutcome) {
    if let BootstrapOutcome::Created {
        email,
        generated_password,
    } = outcome
    {
        tracing::info!("created the first platform operator (SUPER_ADMIN)");
        if let Some(password) = generated_password {
            println!(
                "\nFirst platform operator created. Sign in as {} with this password; it is shown only once:\n\n    {}\n",
                email.as_str(),
                password.expose_secret()
            );
        }
    }
}

/// Completes at SIGTERM or SIGINT (Ctrl-C).
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    // Registered now, not when first polled: a signal that arrives right after "haven is
    // listening" must already stop Haven gracefully rather than kill it.
    let streams = [SignalKind::terminate(), SignalKind::interrupt()].map(|kind| {
        signal(kind)
            .inspect_err(|error| tracing::error!(%error, "cannot listen for a shutdown signal"))
            .ok()
    });
    async move {
        let [terminate, interrupt] = streams;
        let wait = |stream: Option<tokio::signal::unix::Signal>| async move {
            match stream {
                Some(mut stream) => {
                    stream.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(terminate) => {},
            () = wait(interrupt) => {},
        }
        tracing::info!("shutdown requested");
    }
}
