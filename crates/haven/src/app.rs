//! The application state shared by every request.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::audit::seal::{CheckpointKey, Sealer};
use crate::auth::cookies::Csrf;
use crate::auth::dpop::nonce::Nonces;
use crate::auth::keys::KeyStore;
use crate::auth::password::PasswordHasher;
use crate::auth::revocation::Revocations;
use crate::btg::SecuritySignals;
use crate::config::AuthConfig;
use crate::crypto::{AeadKey, MasterKey, MasterKeys};
use crate::db::AppPool;
use crate::phi::Keyring;
use crate::ratelimit::RateLimiter;
use crate::realtime::hub::Hub;

/// What the application needs from the configuration.
#[derive(Debug)]
pub struct Settings {
    /// How long a request may run before it answers 503.
    pub request_timeout: Duration,
    /// Authentication.
    pub auth: AuthConfig,
    /// Minutes past its reserved end after which an open session is released as stale.
    pub stale_threshold_minutes: i32,
    /// How long a realtime socket may live before it is closed with 4401 (at most 12 h).
    pub realtime_max_lifetime: Duration,
}

impl Settings {
    /// The settings of a development machine (tests, tools).
    #[must_use]
    pub fn development() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            auth: AuthConfig::development(),
            stale_threshold_minutes: 60,
            realtime_max_lifetime: crate::realtime::MAX_LIFETIME,
        }
    }
}

/// What handlers share: the runtime pool, keys, the password hasher, the rate limiter and the
/// settings.
#[derive(Debug)]
pub struct App {
    db: AppPool,
    master_keys: MasterKeys,
    settings: Settings,
    keys: KeyStore,
    revocations: Revocations,
    hasher: PasswordHasher,
    limiter: RateLimiter,
    csrf: Csrf,
    dpop_nonces: Nonces,
    dpop_keys: crate::auth::dpop::KeyCache,
    dpop_seen: crate::auth::dpop::replay::Seen,
    mfa_gate: crate::auth::mfa_gate::MfaGate,
    mfa_key: AeadKey,
    sealer: Sealer,
    keyring: Keyring,
    security_signals: SecuritySignals,
    realtime: Hub,
}

impl App {
    /// What `crate::accounts` needs to create organizations and users.
    #[must_use]
    pub fn accounts(&self) -> crate::accounts::Services<'_> {
        crate::accounts::Services {
            db: &self.db,
            hasher: &self.hasher,
            require_mfa_for_admins: self.settings.auth.require_mfa_for_admins,
        }
    }

    /// Loads the deployment's secrets and the signing keys (creating them on a new database)
    /// and the revoked sessions, builds the hasher and connects the rate limiter. `master_keys`
    /// is the master key, or during a master-key rotation the new key and the previous one.
    pub async fn start(
        db: AppPool,
        master_keys: impl Into<MasterKeys>,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        crate::telemetry::metrics::install();
        let master_keys = master_keys.into();
        let secrets = crate::kek::secrets::load(&db, &master_keys)
            .await
            .context("loading the deployment secrets")?;
        let keys = KeyStore::load(&db, &master_keys, &settings.auth)
            .await
            .context("loading the JWT signing keys")?;
        let revocations = Revocations::load(db.clone(), settings.auth.access_token_ttl)
            .await
            .context("loading the revoked sessions")?;
        let hasher = PasswordHasher::new(settings.auth.argon2, settings.auth.hash_threads)
            .context("setting up password hashing")?;
        let limiter = match &settings.auth.redis_url {
            Some(url) => RateLimiter::redis(url, &settings.auth.redis_key_prefix)
                .await
                .context("connecting to Redis (HAVEN_REDIS_URL)")?,
            None => RateLimiter::in_process(),
        };
        Ok(Self {
            sealer: Sealer::with_key(
                db.clone(),
                CheckpointKey::from_bytes(secrets.audit_checkpoints.clone()),
            ),
            keyring: Keyring::new(&master_keys),
            security_signals: SecuritySignals::new(),
            realtime: Hub::new(),
            csrf: Csrf::new(secrets.csrf.clone()),
            dpop_nonces: Nonces::new(secrets.dpop_nonce.clone()),
            dpop_keys: crate::auth::dpop::KeyCache::default(),
            dpop_seen: crate::auth::dpop::replay::Seen::default(),
            mfa_gate: crate::auth::mfa_gate::MfaGate::default(),
            mfa_key: AeadKey::from_secret(secrets.mfa_secrets.clone()),
            db,
            master_keys,
            settings,
            keys,
            revocations,
            hasher,
            limiter,
        })
    }

    /// The runtime pool (tenant transactions only).
    #[must_use]
    pub fn db(&self) -> &AppPool {
        &self.db
    }

    /// The current master key (the key-encryption key).
    #[must_use]
    pub fn master_key(&self) -> &MasterKey {
        self.master_keys.current()
    }

    /// The master keys this instance holds: the current one and, during a rotation, the
    /// previous one.
    #[must_use]
    pub fn master_keys(&self) -> &MasterKeys {
        &self.master_keys
    }

    /// The key the audit chain's checkpoints are signed and checked with.
    #[must_use]
    pub fn checkpoint_key(&self) -> &CheckpointKey {
        self.sealer.checkpoint_key()
    }

    /// How long a request may run before it answers 503.
    #[must_use]
    pub fn request_timeout(&self) -> Duration {
        self.settings.request_timeout
    }

    /// Minutes past its reserved end after which an open session is released as stale.
    #[must_use]
    pub fn stale_threshold_minutes(&self) -> i32 {
        self.settings.stale_threshold_minutes
    }

    /// How long a realtime socket may live.
    #[must_use]
    pub fn realtime_max_lifetime(&self) -> Duration {
        self.settings.realtime_max_lifetime
    }

    /// Authentication settings.
    #[must_use]
    pub fn auth_config(&self) -> &AuthConfig {
        &self.settings.auth
    }

    /// The JWT signing and verification keys.
    #[must_use]
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// The sessions and users whose access tokens are refused (in memory; see
    /// [`Revocations::spawn_refresher`]).
    #[must_use]
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Password hashing on its bounded pool.
    #[must_use]
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Rate-limit counters (in process, or shared through Redis).
    #[must_use]
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// CSRF tokens for cookie sessions.
    #[must_use]
    pub fn csrf(&self) -> &Csrf {
        &self.csrf
    }

    /// The DPoP nonces handed out at login and refresh.
    #[must_use]
    pub fn dpop_nonces(&self) -> &Nonces {
        &self.dpop_nonces
    }

    /// The keys of recent DPoP proof headers (checked once per client key).
    #[must_use]
    pub fn dpop_keys(&self) -> &crate::auth::dpop::KeyCache {
        &self.dpop_keys
    }

    /// The DPoP proofs used recently, when Redis does not hold them (`auth::dpop::replay`).
    #[must_use]
    pub fn dpop_seen(&self) -> &crate::auth::dpop::replay::Seen {
        &self.dpop_seen
    }

    /// The MFA gate's recent passes (`http::caller`).
    #[must_use]
    pub fn mfa_gate(&self) -> &crate::auth::mfa_gate::MfaGate {
        &self.mfa_gate
    }

    /// The audit sealer (chains recorded events into the log).
    #[must_use]
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// The per-organization PHI keys.
    #[must_use]
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Break-the-glass security signals: stdout line and webhook.
    #[must_use]
    pub fn security_signals(&self) -> &SecuritySignals {
        &self.security_signals
    }

    /// This instance's realtime sockets.
    #[must_use]
    pub fn realtime(&self) -> &Hub {
        &self.realtime
    }

    /// The key that seals TOTP secrets.
    #[must_use]
    pub fn mfa_key(&self) -> &AeadKey {
        &self.mfa_key
    }
}

/// The state handlers take with `State<AppState>`: cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(Arc<App>);

impl AppState {
    /// Wraps `app`.
    #[must_use]
    pub fn new(app: App) -> Self {
        Self(Arc::new(app))
    }
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}
