//! A database per test.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use haven::db::{APP_ROLE, AppPool, OWNER_ROLE, provision};
use haven::domain::Role;
use haven::ids::{OrganizationId, UserId};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

use crate::server::{Server, execute};

/// A fresh, migrated database, dropped (with its connections) when this is dropped.
#[derive(Debug)]
pub struct TestDb {
    name: String,
}

impl TestDb {
    /// Copies the template into a new database.
    pub async fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let server = Server::get();
        let template = server.template().await;
        let name = format!(
            "haven_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut su = server.superuser().await;
        execute(
            &mut su,
            format!(
                "CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY OWNER {OWNER_ROLE}",
                provision::quote_ident(&name),
                provision::quote_ident(template)
            ),
        )
        .await;
        // Database privileges are not copied from the template.
        provision::restrict_database(&mut su, &name)
            .await
            .expect("restricting the test database");
        let _ = su.close().await;
        Self { name }
    }

    /// The database's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Options for the runtime role (`haven_app`).
    #[must_use]
    pub fn app_options(&self) -> PgConnectOptions {
        Server::get().options(APP_ROLE, &self.name)
    }

    /// Options for the owner role (`haven_owner`).
    #[must_use]
    pub fn owner_options(&self) -> PgConnectOptions {
        Server::get().options(OWNER_ROLE, &self.name)
    }

    /// Options for the server's superuser (tests that tamper with the schema or data).
    #[must_use]
    pub fn superuser_options(&self) -> PgConnectOptions {
        Server::get().superuser_options(&self.name)
    }

    /// A `postgres://` URL for `role` on this database (for the binary's `HAVEN_DATABASE_URL`).
    #[must_use]
    pub fn url(&self, role: &str) -> String {
        let options = self.app_options();
        match options.get_socket() {
            // A percent-encoded absolute path as the host means a Unix socket directory.
            Some(socket) => format!(
                "postgres://{role}@{}:{}/{}",
                socket.display().to_string().replace('/', "%2F"),
                options.get_port(),
                self.name
            ),
            None => format!(
                "postgres://{role}@{}:{}/{}",
                options.get_host(),
                options.get_port(),
                self.name
            ),
        }
    }

    /// The private cluster's data directory (`None` with `HAVEN_TEST_DATABASE_URL`).
    #[must_use]
    pub fn cluster_data_dir(&self) -> Option<&'static Path> {
        Server::get().data_dir()
    }

    /// Haven's runtime pool on this database.
    pub async fn app_pool(&self) -> AppPool {
        AppPool::connect(self.app_options(), 8)
            .await
            .expect("connecting as the app role")
    }

    /// A plain pool as the owner (bypasses nothing, but the owner's policy shows every tenant).
    pub async fn owner_pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(4)
            .connect_with(self.owner_options())
            .await
            .expect("connecting as the owner")
    }

    /// Inserts an organization (as the owner) and returns its id.
    pub async fn create_organization(&self, name: &str) -> OrganizationId {
        let id = OrganizationId::new();
        let pool = self.owner_pool().await;
        sqlx::query("INSERT INTO organizations (id, name) VALUES ($1, $2)")
            .bind(id)
            .bind(name)
            .execute(&pool)
            .await
            .expect("inserting an organization");
        pool.close().await;
        id
    }

    /// Inserts a user of `organization` with `role` (as the owner) and returns its id. The
    /// password hash is a placeholder that no password verifies against.
    pub async fn create_user(
        &self,
        organization: OrganizationId,
        role: Role,
        email: &str,
    ) -> UserId {
        self.create_user_with_hash(organization, role, email, "!")
            .await
    }

    /// Inserts a user with the given password hash (PHC, or a legacy bcrypt one).
    pub async fn create_user_with_hash(
        &self,
        organization: OrganizationId,
        role: Role,
        email: &str,
        password_hash: &str,
    ) -> UserId {
        let id = UserId::new();
        let pool = self.owner_pool().await;
        sqlx::query(
            "INSERT INTO users (organization_id, id, email, password_hash, role, first_name, last_name) \
             VALUES ($1, $2, $3, $5, $4, 'Test', 'User')",
        )
        .bind(organization)
        .bind(id)
        .bind(email)
        .bind(role.as_str())
        .bind(password_hash)
        .execute(&pool)
        .await
        .expect("inserting a user");
        pool.close().await;
        id
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let statement = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            provision::quote_ident(&self.name)
        );
        // Drop may run inside an async runtime, which must not block on itself: use a thread
        // with its own small runtime. A failure leaves the database to the next sweep.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut su = Server::get().superuser().await;
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                    .execute(&mut su)
                    .await;
                let _ = su.close().await;
            });
            Some(())
        })
        .join();
    }
}
