//! Haven's configuration: typed, read once from the environment, checked before anything starts.
//!
//! Every setting is a `HAVEN_*` variable (see the README's table). Secrets accept a `*_FILE`
//! variant, are held in `secrecy` types and print as `[REDACTED]` in `Debug`. A bad value stops
//! start-up with a message naming the variable; `HAVEN_ENV=production` additionally refuses the
//! conveniences meant for a developer's machine (embedded database, generated master key).

mod auth;
mod env;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

pub use auth::{Argon2Params, AuthConfig, IpNetwork};
pub use env::Env;

use crate::btg::webhook::WebhookUrl;
use crate::crypto::{MasterKeyError, MasterKeySource, MasterKeys};

/// `HAVEN_SECURITY_WEBHOOK_URL` (a secret: webhook URLs often carry a token).
/// `HAVEN_METRICS_BIND`: an address, or `off` for no metrics listener.
fn wal_archive_dir(env: &Env) -> Result<Option<PathBuf>, ConfigError> {
    let Some(dir) = env.path("HAVEN_WAL_ARCHIVE_DIR") else {
        return Ok(None);
    };
    let text = dir.to_string_lossy();
    // The path goes into a shell command (`archive_command`): only plain characters.
    if !dir.is_absolute()
        || !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
    {
        return Err(ConfigError::Invalid {
            key: "HAVEN_WAL_ARCHIVE_DIR",
            reason: "must be an absolute path of letters, digits, `/`, `-`, `_` and `.`".into(),
        });
    }
    Ok(Some(dir))
}

fn metrics_bind(env: &Env) -> Result<Option<SocketAddr>, ConfigError> {
    if env
        .get("HAVEN_METRICS_BIND")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("off"))
    {
        return Ok(None);
    }
    env.parse_or(
        "HAVEN_METRICS_BIND",
        SocketAddr::from(([127, 0, 0, 1], 9464)),
    )
    .map(Some)
}

fn security_webhook_url(env: &Env) -> Result<Option<WebhookUrl>, ConfigError> {
    use secrecy::ExposeSecret;
    env.secret("HAVEN_SECURITY_WEBHOOK_URL")?
        .map(|url| {
            WebhookUrl::parse(url.expose_secret()).map_err(|reason| ConfigError::Invalid {
                key: "HAVEN_SECURITY_WEBHOOK_URL",
                reason,
            })
        })
        .transpose()
}

/// Where Haven runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// A developer's machine or a test: conveniences allowed.
    Development,
    /// Real PHI: every convenience that weakens security is refused.
    Production,
}

/// The database Haven talks to.
#[derive(Debug)]
pub enum DatabaseConfig {
    /// Haven's own PostgreSQL cluster under `<data_dir>/pg`, reached over a Unix socket.
    Embedded {
        /// `HAVEN_PG_BIN_DIR`: where initdb and pg_ctl are, when not found by search.
        pg_bin_dir: Option<PathBuf>,
        /// `HAVEN_CLUSTERS_DIR` (default `/var/lib/haven/clusters`): where the cluster lives
        /// when the PostgreSQL user cannot enter the data directory (Haven runs as root from
        /// a checkout under `/root`, say).
        clusters_dir: PathBuf,
        /// `HAVEN_WAL_ARCHIVE_DIR`: the cluster archives every WAL segment here (for
        /// point-in-time recovery from a `haven backup create` base backup); unset: no archive.
        wal_archive_dir: Option<PathBuf>,
    },
    /// A PostgreSQL someone else runs.
    External {
        /// `HAVEN_DATABASE_URL`: the runtime (app) role.
        url: SecretString,
        /// `HAVEN_MIGRATE_DATABASE_URL`: the owner role, for migrations and bootstrap. Without
        /// it, `serve` assumes someone ran `haven migrate`.
        migrate_url: Option<SecretString>,
    },
}

/// The first platform operator, created when none exists.
#[derive(Debug, Default)]
pub struct BootstrapConfig {
    /// `HAVEN_BOOTSTRAP_EMAIL` (default `admin@haven.local`).
    pub email: Option<String>,
    /// `HAVEN_BOOTSTRAP_PASSWORD`; generated and printed once when unset.
    pub password: Option<SecretString>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (the default; what log pipelines want).
    Json,
    /// Human-readable lines for a terminal.
    Pretty,
}

/// Everything `haven serve` needs to know.
#[derive(Debug)]
pub struct Config {
    /// `HAVEN_ENV`: `development` (default) or `production`.
    pub environment: Environment,
    /// `HAVEN_BIND`: the API listener (default 127.0.0.1:8080).
    pub bind: SocketAddr,
    /// `HAVEN_METRICS_BIND`: the Prometheus listener (default 127.0.0.1:9464), or `None` when
    /// set to `off`.
    pub metrics_bind: Option<SocketAddr>,
    /// `HAVEN_DATA_DIR`: embedded cluster and generated master key (default `./.haven`).
    pub data_dir: PathBuf,
    /// The database.
    pub database: DatabaseConfig,
    /// Where the master key (key-encryption key) comes from.
    pub master_key: MasterKeySource,
    /// `HAVEN_PREVIOUS_MASTER_KEY(_FILE)`: the key a master-key rotation replaces, held beside
    /// it until `haven keys rotate-master` has re-wrapped everything.
    pub previous_master_key: Option<MasterKeySource>,
    /// The first SUPER_ADMIN.
    pub bootstrap: BootstrapConfig,
    /// `HAVEN_REQUEST_TIMEOUT_SECS`: a handler running longer answers 503 (default 30).
    pub request_timeout: Duration,
    /// `HAVEN_DB_MAX_CONNECTIONS`: the runtime pool's size (default 32).
    pub db_max_connections: u32,
    /// `HAVEN_LOG_FORMAT`: `json` (default) or `pretty`.
    pub log_format: LogFormat,
    /// `HAVEN_LOG`: a tracing filter (default `info`).
    pub log_filter: String,
    /// Authentication.
    pub auth: AuthConfig,
    /// `HAVEN_SECURITY_WEBHOOK_URL` (`_FILE`): where break-the-glass security events are POSTed
    /// too; unset = stdout only. Production requires `https`.
    pub security_webhook_url: Option<WebhookUrl>,
    /// `HAVEN_STALE_CLEANUP_MINUTES`: how often the background job releases stale reservations
    /// (default 5).
    pub stale_cleanup_interval: Duration,
    /// `HAVEN_STALE_THRESHOLD_MINUTES`: how long past its reserved end an open session is
    /// released as stale (default 60).
    pub stale_threshold_minutes: i32,
    /// `HAVEN_REALTIME_MAX_LIFETIME_SECS`: how long a realtime socket may live before it is
    /// closed with 4401 and the client asks for a new ticket (default and most: 43200, 12 h).
    pub realtime_max_lifetime: Duration,
    /// `HAVEN_BREACH_DETECTOR_SECS`: how often the breach detector reads the sealed chains
    /// (default 30, SPEC §8); `off` switches it off, for measuring what it costs (refused in
    /// production: the HIPAA Security Rule asks for the monitoring it does).
    pub breach_detector_interval: Option<Duration>,
}

/// A setting that stops start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The value of `key` is unusable.
    #[error("{key}: {reason}")]
    Invalid {
        /// The variable.
        key: &'static str,
        /// What is wrong, without the value when it is a secret.
        reason: String,
    },
    /// A combination production refuses.
    #[error("HAVEN_ENV=production refuses {0}")]
    Production(&'static str),
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from(&Env::from_process())
    }

    /// Reads `env`.
    pub fn from(env: &Env) -> Result<Self, ConfigError> {
        let environment = match env.get("HAVEN_ENV").map(str::to_ascii_lowercase).as_deref() {
            None | Some("development" | "dev" | "test") => Environment::Development,
            Some("production" | "prod") => Environment::Production,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "HAVEN_ENV",
                    reason: format!("expected development or production, got {other:?}"),
                });
            }
        };
        let data_dir = env
            .path("HAVEN_DATA_DIR")
            .unwrap_or_else(|| ".haven".into());
        let database = match env.secret("HAVEN_DATABASE_URL")? {
            Some(url) => DatabaseConfig::External {
                url,
                migrate_url: env.secret("HAVEN_MIGRATE_DATABASE_URL")?,
            },
            None => {
                if env.get("HAVEN_MIGRATE_DATABASE_URL").is_some()
                    || env.get("HAVEN_MIGRATE_DATABASE_URL_FILE").is_some()
                {
                    return Err(ConfigError::Invalid {
                        key: "HAVEN_MIGRATE_DATABASE_URL",
                        reason: "is set but HAVEN_DATABASE_URL is not; set both to use an external database".into(),
                    });
                }
                DatabaseConfig::Embedded {
                    pg_bin_dir: env.path("HAVEN_PG_BIN_DIR"),
                    clusters_dir: env
                        .path("HAVEN_CLUSTERS_DIR")
                        .unwrap_or_else(|| PathBuf::from("/var/lib/haven/clusters")),
                    wal_archive_dir: wal_archive_dir(env)?,
                }
            }
        };
        let master_key = MasterKeySource::from_env(env, &data_dir)?;
        let previous_master_key = MasterKeySource::previous_from_env(env)?;
        let log_format = match env
            .get("HAVEN_LOG_FORMAT")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("json") => LogFormat::Json,
            Some("pretty" | "text") => LogFormat::Pretty,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "HAVEN_LOG_FORMAT",
                    reason: format!("expected json or pretty, got {other:?}"),
                });
            }
        };
        let request_timeout_secs: u64 = env.parse_or("HAVEN_REQUEST_TIMEOUT_SECS", 30)?;
        if !(1..=600).contains(&request_timeout_secs) {
            return Err(ConfigError::Invalid {
                key: "HAVEN_REQUEST_TIMEOUT_SECS",
                reason: "must be between 1 and 600".into(),
            });
        }
        let db_max_connections: u32 = env.parse_or("HAVEN_DB_MAX_CONNECTIONS", 32)?;
        if !(2..=1000).contains(&db_max_connections) {
            return Err(ConfigError::Invalid {
                key: "HAVEN_DB_MAX_CONNECTIONS",
                reason: "must be between 2 and 1000".into(),
            });
        }
        let stale_cleanup_minutes: u64 = env.parse_or("HAVEN_STALE_CLEANUP_MINUTES", 5)?;
        if !(1..=1440).contains(&stale_cleanup_minutes) {
            return Err(ConfigError::Invalid {
                key: "HAVEN_STALE_CLEANUP_MINUTES",
                reason: "must be between 1 and 1440".into(),
            });
        }
        let stale_threshold_minutes: i32 = env.parse_or("HAVEN_STALE_THRESHOLD_MINUTES", 60)?;
        if !(1..=10_080).contains(&stale_threshold_minutes) {
            return Err(ConfigError::Invalid {
                key: "HAVEN_STALE_THRESHOLD_MINUTES",
                reason: "must be between 1 and 10080 (a week)".into(),
            });
        }
        let realtime_max_lifetime_secs: u64 = env.parse_or(
            "HAVEN_REALTIME_MAX_LIFETIME_SECS",
            crate::realtime::MAX_LIFETIME.as_secs(),
        )?;
        if !(1..=crate::realtime::MAX_LIFETIME.as_secs()).contains(&realtime_max_lifetime_secs) {
            return Err(ConfigError::Invalid {
                key: "HAVEN_REALTIME_MAX_LIFETIME_SECS",
                reason: "must be between 1 and 43200 (12 hours)".into(),
            });
        }
        let breach_detector_interval = match env.get("HAVEN_BREACH_DETECTOR_SECS") {
            Some("off") => None,
            _ => {
                let secs: u64 = env.parse_or("HAVEN_BREACH_DETECTOR_SECS", 30)?;
                if !(1..=3600).contains(&secs) {
                    return Err(ConfigError::Invalid {
                        key: "HAVEN_BREACH_DETECTOR_SECS",
                        reason: "must be between 1 and 3600, or off".into(),
                    });
                }
                Some(Duration::from_secs(secs))
            }
        };
        let config = Config {
            environment,
            bind: env.parse_or("HAVEN_BIND", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            metrics_bind: metrics_bind(env)?,
            data_dir,
            database,
            master_key,
            previous_master_key,
            bootstrap: BootstrapConfig {
                email: env.get("HAVEN_BOOTSTRAP_EMAIL").map(str::to_owned),
                password: env.secret("HAVEN_BOOTSTRAP_PASSWORD")?,
            },
            request_timeout: Duration::from_secs(request_timeout_secs),
            db_max_connections,
            log_format,
            log_filter: env.get("HAVEN_LOG").unwrap_or("info").to_owned(),
            auth: AuthConfig::from_env(env, environment)?,
            security_webhook_url: security_webhook_url(env)?,
            stale_cleanup_interval: Duration::from_secs(stale_cleanup_minutes * 60),
            stale_threshold_minutes,
            realtime_max_lifetime: Duration::from_secs(realtime_max_lifetime_secs),
            breach_detector_interval,
        };
        config.check_production()?;
        Ok(config)
    }

    /// The master key (generated on a first start) and, during a rotation, the previous one.
    /// Refuses a previous key equal to the master key.
    pub fn load_master_keys(&self) -> Result<MasterKeys, MasterKeyError> {
        let current = self.master_key.load()?;
        match &self.previous_master_key {
            None => Ok(MasterKeys::single(current)),
            Some(source) => {
                let previous = source.load()?;
                if previous.kek_id() == current.kek_id() {
                    return Err(MasterKeyError::PreviousIsCurrent);
                }
                Ok(MasterKeys::new(current, [previous]))
            }
        }
    }

    /// Whether this is a production deployment.
    #[must_use]
    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    fn check_production(&self) -> Result<(), ConfigError> {
        if !self.is_production() {
            return Ok(());
        }
        if self.breach_detector_interval.is_none() {
            return Err(ConfigError::Invalid {
                key: "HAVEN_BREACH_DETECTOR_SECS",
                reason: "the breach detector cannot be switched off in production".into(),
            });
        }
        if self
            .security_webhook_url
            .as_ref()
            .is_some_and(|url| !url.is_https())
        {
            return Err(ConfigError::Production(
                "a plain-http HAVEN_SECURITY_WEBHOOK_URL: use https",
            ));
        }
        if matches!(self.database, DatabaseConfig::Embedded { .. }) {
            return Err(ConfigError::Production(
                "the embedded database: set HAVEN_DATABASE_URL (and HAVEN_MIGRATE_DATABASE_URL)",
            ));
        }
        if matches!(self.master_key, MasterKeySource::Generate { .. }) {
            return Err(ConfigError::Production(
                "a generated master key: set HAVEN_MASTER_KEY or HAVEN_MASTER_KEY_FILE",
            ));
        }
        if !self.auth.public_url.starts_with("https://") {
            return Err(ConfigError::Production(
                "a public URL without https: set HAVEN_PUBLIC_URL (DPoP proofs name it)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
