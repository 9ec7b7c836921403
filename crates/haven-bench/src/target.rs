//! The Haven under test: one already running at `--url`, or one started for the run
//! (`--start`), whose memory can then be read and which is stopped at the end.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::cli::Cli;
use crate::cpu;
use crate::http::Api;
use crate::memory::{self, Memory};
use crate::server::{AUTH_RATE_LIMIT, HavenProcess};

/// The operator `--start` bootstraps (a fresh, private Haven: the password is no secret).
const STARTED_OPERATOR_EMAIL: &str = "operator@bench.haven.test";
const STARTED_OPERATOR_PASSWORD: &str = "orbit-velvet-canyon-4418";
const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// A platform operator's credentials, for seeding.
#[derive(Debug, Clone)]
pub struct Operator {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// Where the load goes.
#[derive(Debug)]
pub struct Target {
    /// A client for setup requests (each load opens its own pools).
    pub api: Api,
    /// The SUPER_ADMIN used to seed.
    pub operator: Operator,
    /// Haven's database pool size (`--haven-pool`: set on a started Haven, declared for `--url`).
    pub pool: u16,
    server: Option<HavenProcess>,
    idle: Option<Memory>,
    /// `--haven-env` settings the started Haven was given.
    settings: Vec<(String, String)>,
}

impl Target {
    /// Starts Haven (`--start`) or checks that the one at `--url` is ready.
    pub async fn connect(cli: &Cli) -> anyhow::Result<Self> {
        if cli.start {
            let bin = match &cli.haven_bin {
                Some(bin) => bin.clone(),
                None => default_haven_bin()?,
            };
            let server = HavenProcess::start(
                &bin,
                STARTED_OPERATOR_EMAIL,
                STARTED_OPERATOR_PASSWORD,
                cli.haven_pool,
                &cli.haven_env,
            )
            .await?;
            // Read before any request: the figure SPEC §10 calls "idle".
            let idle = server.memory().ok();
            return Ok(Self {
                api: Api::new(server.url())?,
                operator: Operator {
                    email: STARTED_OPERATOR_EMAIL.to_owned(),
                    password: STARTED_OPERATOR_PASSWORD.to_owned(),
                },
                server: Some(server),
                pool: cli.haven_pool,
                idle,
                settings: cli.haven_env.clone(),
            });
        }
        let url = cli.url.as_deref().unwrap_or(DEFAULT_URL);
        let operator = Operator {
            email: cli
                .operator_email
                .clone()
                .context("--url needs --operator-email (a SUPER_ADMIN, to seed the scenario)")?,
            password: cli
                .operator_password
                .clone()
                .context("--url needs --operator-password")?,
        };
        let api = Api::new(url)?;
        let ready = api
            .get("/ready")
            .await
            .with_context(|| format!("no Haven answers at {url}"))?;
        anyhow::ensure!(ready.status.is_success(), "{url}/ready is {}", ready.status);
        Ok(Self {
            api,
            operator,
            server: None,
            pool: cli.haven_pool,
            idle: None,
            settings: Vec::new(),
        })
    }

    /// The started Haven's `--haven-env` setting `name`, if given.
    #[must_use]
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The started Haven's memory now; `None` for a Haven at `--url` (its process is unknown).
    #[must_use]
    pub fn memory(&self) -> Option<Memory> {
        let server = self.server.as_ref()?;
        server
            .memory()
            .inspect_err(|error| eprintln!("haven-bench: {error:#}"))
            .ok()
    }

    /// CPU counters now (machine and this tool always; haven and PostgreSQL when started here).
    #[must_use]
    pub fn cpu_snapshot(&self) -> cpu::Snapshot {
        let server = self.server.as_ref();
        cpu::Snapshot::take(
            server.map(HavenProcess::pid),
            server.and_then(HavenProcess::postmaster_pid),
        )
    }

    /// The Haven started here, for scenarios that need its embedded cluster or its binary.
    pub fn started(&self) -> anyhow::Result<&HavenProcess> {
        self.server.as_ref().context(
            "this scenario needs --start: it reaches the embedded PostgreSQL cluster directly",
        )
    }

    /// Its memory before the first request, when started here.
    #[must_use]
    pub fn idle_memory(&self) -> Option<Memory> {
        self.idle
    }

    /// Caveats a reader of the figures must know.
    #[must_use]
    pub fn notes(&self) -> Vec<String> {
        if self.server.is_some() {
            vec![format!(
                "haven started with HAVEN_AUTH_RATE_LIMIT={AUTH_RATE_LIMIT}: the per-IP limit on \
                 /api/auth/* (100 per 5 minutes by default) would otherwise refuse a flood sent \
                 from one machine; HAVEN_DB_MAX_CONNECTIONS={} (--haven-pool)",
                self.pool
            )]
        } else {
            vec![
                "the per-IP limit on /api/auth/* applies: raise HAVEN_AUTH_RATE_LIMIT on the \
                 server or the flood is answered 429"
                    .to_owned(),
            ]
        }
    }

    /// `{url, started, database}`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({
            "url": self.api.base(),
            "started": self.server.is_some(),
            "pool": self.pool,
            "database": self.database(),
        })
    }

    /// What runs the database, as far as this tool knows.
    #[must_use]
    pub fn database(&self) -> &'static str {
        if self.server.is_some() {
            "embedded PostgreSQL, data on /dev/shm"
        } else {
            "as configured on the server"
        }
    }

    /// Stops the started Haven, if any.
    pub async fn finish(self) {
        if let Some(server) = self.server {
            server.stop().await;
        }
    }
}

/// `haven` next to this binary (`target/release/haven` for `target/release/haven-bench`).
fn default_haven_bin() -> anyhow::Result<PathBuf> {
    Ok(std::env::current_exe()?.with_file_name("haven"))
}

/// `{idle, afterLoad}` memory readings as JSON.
#[must_use]
pub fn memory_json(idle: Option<Memory>, after: Option<Memory>) -> Value {
    json!({ "idle": memory::to_json(idle), "afterLoad": memory::to_json(after) })
}
