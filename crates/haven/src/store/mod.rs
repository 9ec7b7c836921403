//! Data access. Every function takes the [`crate::db::TenantTx`] it runs in and filters by its
//! organization as well, even though row-level security would hide other tenants' rows anyway.

pub mod audit_logs;
pub mod authorizations;
pub mod btg;
pub mod mfa;
pub mod organizations;
pub mod patients;
pub mod sessions;
pub mod sessions_units;
pub mod users;

/// Whether `error` is a unique-constraint violation on `constraint`.
#[must_use]
pub fn is_unique_violation(error: &sqlx::Error, constraint: &str) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation() && e.constraint() == Some(constraint))
}
