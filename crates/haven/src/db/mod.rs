//! PostgreSQL: connections, tenant transactions, migrations, the catalog invariants, and the
//! embedded cluster.
//!
//! Two roles reach the database. The **owner** runs migrations and owns every object; the
//! **app** role (`haven_app`, or a login role granted it) serves requests, owns nothing and is
//! subject to row-level security. Request code only ever holds an [`AppPool`], whose one way to
//! run tenant queries is [`AppPool::begin_tenant`], yielding a [`TenantTx`].

pub mod bootstrap;
pub mod catalog;
pub mod embedded;
pub mod hosts;
pub mod migrate;
pub mod platform;
mod pool;
pub mod preauth;
pub mod provision;
mod setup;
mod tenant;

pub use pool::{AppPool, LONG_STATEMENT_TIMEOUT, PoolStats, STATEMENT_TIMEOUT};
pub use setup::Database;
pub use tenant::TenantTx;

/// The name of the runtime role that every grant in the migrations goes to.
pub const APP_ROLE: &str = "haven_app";

/// The owner role Haven creates in clusters it provisions itself (embedded, tests).
pub const OWNER_ROLE: &str = "haven_owner";

/// The database Haven creates in clusters it provisions itself.
pub const DATABASE_NAME: &str = "haven";
