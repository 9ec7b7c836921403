//! The PostgreSQL server the tests share, and the migrated template database.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use haven::db::{APP_ROLE, OWNER_ROLE, catalog, migrate, provision};
use haven_pg::{Cluster, ClusterSpec, PgBinaries};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::sync::OnceCell;

/// Serializes provisioning and sweeping across test processes.
const SETUP_LOCK: i64 = 0x4841_5645_4e54_5354; // "HAVENTST"

pub(crate) struct Server {
    /// Superuser options, on the `postgres` database.
    superuser: PgConnectOptions,
    /// The private cluster's data directory, when the tests run their own.
    data_dir: Option<PathBuf>,
}

impl Server {
    /// The process-wide server: started (or found running) on first use.
    pub(crate) fn get() -> &'static Server {
        static SERVER: OnceLock<Server> = OnceLock::new();
        SERVER.get_or_init(|| match std::env::var("HAVEN_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Server {
                superuser: PgConnectOptions::from_str(&url)
                    .expect("HAVEN_TEST_DATABASE_URL is not a PostgreSQL URL")
                    .database("postgres"),
                data_dir: None,
            },
            _ => Self::private_cluster(),
        })
    }

    fn private_cluster() -> Server {
        let root = cluster_root();
        std::fs::create_dir_all(&root).expect("creating the test cluster's directory");
        let bins = PgBinaries::locate(None).expect("PostgreSQL server binaries for the tests");
        let (cluster, _) = Cluster::prepare(
            bins,
            ClusterSpec {
                data_dir: root.join("pg"),
                socket_dir: root.join("run"),
                port: 5432,
                superuser: "postgres".into(),
                // Durability is worthless for throw-away test data; speed is not.
                settings: [
                    ("fsync", "off"),
                    ("synchronous_commit", "off"),
                    ("full_page_writes", "off"),
                    ("max_connections", "400"),
                    ("shared_buffers", "256MB"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
                no_sync: true,
            },
        )
        .expect("preparing the test cluster");
        cluster.ensure_running().expect("starting the test cluster");
        Server {
            superuser: PgConnectOptions::new()
                .socket(cluster.socket_dir())
                .port(cluster.port())
                .username(cluster.superuser())
                .database("postgres"),
            data_dir: Some(cluster.data_dir().to_owned()),
        }
    }

    pub(crate) fn options(&self, role: &str, database: &str) -> PgConnectOptions {
        self.superuser
            .clone()
            .username(role)
            .password("")
            .database(database)
    }

    pub(crate) fn superuser_options(&self, database: &str) -> PgConnectOptions {
        self.superuser.clone().database(database)
    }

    pub(crate) fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    pub(crate) async fn superuser(&self) -> PgConnection {
        PgConnection::connect_with(&self.superuser)
            .await
            .expect("connecting to the test server as superuser")
    }

    /// The migrated template's name, building it on first use in this run.
    pub(crate) async fn template(&'static self) -> &'static str {
        static TEMPLATE: OnceCell<String> = OnceCell::const_new();
        TEMPLATE
            .get_or_init(|| async { self.build_template().await })
            .await
    }

    async fn build_template(&self) -> String {
        let name = format!("haven_tpl_{}", migrations_fingerprint());
        let mut su = self.superuser().await;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(SETUP_LOCK)
            .execute(&mut su)
            .await
            .expect("setup lock");
        provision::ensure_roles(&mut su)
            .await
            .expect("creating roles");
        sweep(&mut su, &name).await;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&name)
                .fetch_one(&mut su)
                .await
                .expect("template look-up");
        if !exists {
            let building = format!("{name}_building_{}", std::process::id());
            provision::ensure_database(&mut su, &building)
                .await
                .expect("creating the template database");
            let owner_options = self.options(OWNER_ROLE, &building);
            let owner = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_with(owner_options)
                .await
                .expect("connecting to the template as owner");
            migrate::run(&owner).await.expect("migrating the template");
            owner.close().await;
            execute(
                &mut su,
                format!(
                    "ALTER DATABASE {} RENAME TO {}",
                    provision::quote_ident(&building),
                    provision::quote_ident(&name)
                ),
            )
            .await;
            execute(
                &mut su,
                format!(
                    "ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
                    provision::quote_ident(&name)
                ),
            )
            .await;
        }
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(SETUP_LOCK)
            .execute(&mut su)
            .await
            .expect("setup unlock");
        let _ = su.close().await;
        let _ = (APP_ROLE, catalog::GLOBAL_UNIQUE_INDEXES);
        name
    }
}

pub(crate) async fn execute(conn: &mut PgConnection, statement: String) {
    sqlx::raw_sql(AssertSqlSafe(statement.clone()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Drops databases of test processes that are gone, half-built templates, and templates of
/// other migration sets.
async fn sweep(su: &mut PgConnection, current_template: &str) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'haven\\_test\\_%' OR datname LIKE 'haven\\_tpl\\_%'",
    )
    .fetch_all(&mut *su)
    .await
    .expect("listing test databases");
    for name in names {
        let stale = if let Some(rest) = name.strip_prefix("haven_test_") {
            rest.split('_')
                .next()
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !process_alive(pid))
        } else if let Some((_, pid)) = name.split_once("_building_") {
            pid.parse::<u32>()
                .ok()
                .is_some_and(|pid| !process_alive(pid))
        } else {
            name != current_template
        };
        if stale {
            let quoted = provision::quote_ident(&name);
            // A template must stop being one before it can be dropped; failures (a database
            // still in use) are left for a later sweep.
            let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                "ALTER DATABASE {quoted} WITH IS_TEMPLATE false"
            )))
            .execute(&mut *su)
            .await;
            let _ = sqlx::raw_sql(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"
            )))
            .execute(&mut *su)
            .await;
        }
    }
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Identifies the set of migrations, so a changed migration gets a fresh template.
fn migrations_fingerprint() -> String {
    let mut hasher = Sha256::new();
    for migration in migrate::MIGRATOR.iter() {
        hasher.update(migration.version.to_le_bytes());
        hasher.update(&migration.checksum);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// One cluster per checkout and user, on tmpfs when available.
fn cluster_root() -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_MANIFEST_DIR").as_bytes());
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(0);
    base.join(format!(
        "haven-test-{uid}-{}",
        &hex::encode(hasher.finalize())[..12]
    ))
}
