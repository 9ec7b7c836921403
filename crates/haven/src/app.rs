//! The application state shared by every request.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::crypto::MasterKey;
use crate::db::AppPool;

/// What handlers share: the runtime pool, the master key, and the request settings.
#[derive(Debug)]
pub struct App {
    db: AppPool,
    master_key: MasterKey,
    request_timeout: Duration,
}

impl App {
    /// Assembles the state from its parts (the `serve` command, or a test).
    #[must_use]
    pub fn new(db: AppPool, master_key: MasterKey, request_timeout: Duration) -> Self {
        Self {
            db,
            master_key,
            request_timeout,
        }
    }

    /// The runtime pool (tenant transactions only).
    #[must_use]
    pub fn db(&self) -> &AppPool {
        &self.db
    }

    /// The key-encryption key.
    #[must_use]
    pub fn master_key(&self) -> &MasterKey {
        &self.master_key
    }

    /// How long a request may run before it answers 503.
    #[must_use]
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
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
