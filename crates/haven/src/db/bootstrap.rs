//! The first platform operator. On a fresh database Haven creates one SUPER_ADMIN, so someone can
//! log in and create the first practice; afterwards this does nothing.

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use crate::auth::password;
use crate::config::BootstrapConfig;
use crate::domain::{Email, Role};
use crate::ids::{OrganizationId, UserId};

/// Used when `HAVEN_BOOTSTRAP_EMAIL` is unset.
pub const DEFAULT_EMAIL: &str = "admin@haven.local";

/// What bootstrapping did.
#[derive(Debug)]
pub enum BootstrapOutcome {
    /// A SUPER_ADMIN existed already; nothing changed.
    AlreadyPresent,
    /// A SUPER_ADMIN was created.
    Created {
        /// Their login.
        email: Email,
        /// The password Haven generated, to be shown once; `None` when it came from the config.
        generated_password: Option<SecretString>,
    },
}

/// Creates the first SUPER_ADMIN unless one exists. Runs as the owner; an advisory lock makes
/// instances that start together create one, not several.
pub async fn ensure_super_admin(
    owner: &PgPool,
    config: &BootstrapConfig,
) -> anyhow::Result<BootstrapOutcome> {
    let email = Email::parse(config.email.as_deref().unwrap_or(DEFAULT_EMAIL))
        .context("HAVEN_BOOTSTRAP_EMAIL")?;
    if let Some(given) = &config.password {
        // The full policy (strength estimate, no email or name) comes with login; a bootstrap
        // password must at least meet the length rule.
        let length = given.expose_secret().chars().count();
        if !(12..=128).contains(&length) {
            bail!("HAVEN_BOOTSTRAP_PASSWORD: must be 12 to 128 characters");
        }
    }

    let mut tx = owner.begin().await?;
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtext('haven.bootstrap')), \
                set_config('app.current_organization_id', $1, true)",
    )
    .bind(OrganizationId::PLATFORM.to_string())
    .execute(&mut *tx)
    .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE role = 'SUPER_ADMIN')")
            .fetch_one(&mut *tx)
            .await?;
    if exists {
        return Ok(BootstrapOutcome::AlreadyPresent);
    }

    let (password, generated) = match &config.password {
        Some(given) => (given.clone(), false),
        None => (password::generate(), true),
    };
    let to_hash = password.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&to_hash)).await??;
    sqlx::query(
        "INSERT INTO users (organization_id, id, email, password_hash, role, first_name, last_name) \
         VALUES ($1, $2, $3, $4, $5, 'Platform', 'Operator')",
    )
    .bind(OrganizationId::PLATFORM)
    .bind(UserId::new())
    .bind(email.as_str())
    .bind(hash)
    .bind(Role::SuperAdmin.as_str())
    .execute(&mut *tx)
    .await
    .context("creating the first SUPER_ADMIN")?;
    tx.commit().await?;
    Ok(BootstrapOutcome::Created {
        email,
        generated_password: generated.then_some(password),
    })
}
