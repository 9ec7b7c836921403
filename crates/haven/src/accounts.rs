//! Creating organizations and accounts: shared by the HTTP API and the `haven admin` commands,
//! so both validate, hash and audit the same way.

use secrecy::SecretString;
use serde_json::json;

use std::collections::BTreeMap;

use crate::audit::{self, AccessMethod, AuditAction, AuditEvent, RequestMeta};
use crate::auth::password::PasswordHasher;
use crate::auth::password::check_password;
use crate::db::AppPool;
use crate::domain::{Email, Role, parse_name};
use crate::ids::{OrganizationId, UserId};
use crate::policy::users::ManageUsers;
use crate::store::is_unique_violation;
use crate::store::organizations::{self, Organization};
use crate::store::users::{self, NewUser, User};

/// Who is acting: a signed-in user, or Haven itself (the command line).
#[derive(Debug, Clone)]
pub struct Actor {
    /// The user and role, when a person acts through the API.
    pub user: Option<(UserId, Role)>,
    /// How they reach the organization.
    pub access_method: AccessMethod,
    /// The request it happens in.
    pub request: RequestMeta,
}

impl Actor {
    /// An operator at the command line.
    #[must_use]
    pub fn command_line() -> Self {
        Self {
            user: None,
            access_method: AccessMethod::System,
            request: RequestMeta::default(),
        }
    }

    fn stamp(&self, event: AuditEvent) -> AuditEvent {
        let event = event
            .with_access_method(self.access_method)
            .with_request(&self.request);
        match self.user {
            Some((user, role)) => event.with_actor(user, role),
            None => event,
        }
    }
}

/// What creating accounts needs of the running application.
#[derive(Debug, Clone, Copy)]
pub struct Services<'a> {
    /// The runtime pool.
    pub db: &'a AppPool,
    /// The bounded password hasher.
    pub hasher: &'a PasswordHasher,
    /// Whether a new practice requires MFA of its admins.
    pub require_mfa_for_admins: bool,
}

/// Problems with the input, by field name.
pub type Details = BTreeMap<String, String>;

/// Why an organization or account was not created. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The input is not acceptable (`details` names the fields).
    #[error("{message}")]
    Invalid {
        /// What was being created.
        message: String,
        /// Problems by field.
        details: Details,
    },
    /// Another account already has the email.
    #[error("A user with this email already exists")]
    EmailTaken,
    /// The password could not be hashed.
    #[error("hashing a password: {0}")]
    Hashing(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// An account as submitted, not yet checked.
#[derive(Debug)]
pub struct AccountInput {
    /// Login.
    pub email: String,
    /// Initial password.
    pub password: SecretString,
    /// Role.
    pub role: Role,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
}

struct CheckedAccount {
    email: Email,
    password: SecretString,
    role: Role,
    first_name: String,
    last_name: String,
}

/// The input field names for `base` (`email`) under `prefix` (`admin` → `adminEmail`).
fn field(prefix: &str, base: &str) -> String {
    if prefix.is_empty() {
        base.to_owned()
    } else {
        let mut chars = base.chars();
        let first = chars
            .next()
            .map(|c| c.to_ascii_uppercase())
            .unwrap_or_default();
        format!("{prefix}{first}{}", chars.as_str())
    }
}

/// Checks `input` (names, email, the password policy), collecting problems into `details`.
fn check_account(
    input: AccountInput,
    prefix: &str,
    details: &mut Details,
) -> Option<CheckedAccount> {
    let email = Email::parse(&input.email)
        .map_err(|e| details.insert(field(prefix, "email"), e.to_string()))
        .ok();
    let first = parse_name(&input.first_name, 100)
        .map_err(|e| details.insert(field(prefix, "firstName"), e))
        .ok();
    let last = parse_name(&input.last_name, 100)
        .map_err(|e| details.insert(field(prefix, "lastName"), e))
        .ok();
    let (email, first_name, last_name) = (email?, first?, last?);
    if let Err(problem) = check_password(&input.password, email.as_str(), &first_name, &last_name) {
        details.insert(field(prefix, "password"), problem.to_string());
        return None;
    }
    Some(CheckedAccount {
        email,
        password: input.password,
        role: input.role,
        first_name,
        last_name,
    })
}

async fn hash(app: Services<'_>, password: SecretString) -> Result<String, AccountError> {
    app.hasher
        .hash(password)
        .await
        .map_err(|e| AccountError::Hashing(e.to_string()))
}

async fn insert_account(
    tx: &mut crate::db::TenantTx,
    may: &ManageUsers,
    account: &CheckedAccount,
    hash: &str,
) -> Result<User, AccountError> {
    let new = NewUser {
        email: account.email.as_str(),
        password_hash: hash,
        role: account.role,
        first_name: &account.first_name,
        last_name: &account.last_name,
    };
    match users::insert(tx, may, &new).await {
        Ok(user) => Ok(user),
        Err(e) if is_unique_violation(&e, "users_email_unique") => Err(AccountError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

/// Creates a practice named `name` with `admin` as its first ADMIN. Audited in the new
/// organization's trail (in the same transaction) and in the platform's.
pub async fn create_organization(
    app: Services<'_>,
    actor: &Actor,
    name: &str,
    admin: AccountInput,
) -> Result<(Organization, User), AccountError> {
    let mut details = Details::new();
    let name = parse_name(name, 200)
        .map_err(|e| details.insert("name".into(), e))
        .ok();
    let admin = check_account(
        AccountInput {
            role: Role::Admin,
            ..admin
        },
        "admin",
        &mut details,
    );
    let (Some(name), Some(admin)) = (name, admin) else {
        return Err(AccountError::Invalid {
            message: "The organization is not valid".to_owned(),
            details,
        });
    };
    if app
        .db
        .pre_auth()
        .find_login_user(&admin.email)
        .await?
        .is_some()
    {
        return Err(AccountError::EmailTaken);
    }
    let password_hash = hash(app, admin.password.clone()).await?;
    let org_id = OrganizationId::new();
    let mut tx = app
        .db
        .begin_tenant(org_id, actor.user.map(|(u, _)| u))
        .await?;
    let organization = organizations::insert(&mut tx, &name, app.require_mfa_for_admins).await?;
    let may = ManageUsers::command_line(org_id);
    let user = insert_account(&mut tx, &may, &admin, &password_hash).await?;
    for event in [
        AuditEvent::new(AuditAction::OrganizationCreate).with_entity("organization", org_id),
        AuditEvent::new(AuditAction::UserCreate)
            .with_entity("user", user.id)
            .with_details(json!({ "role": user.role })),
    ] {
        audit::record(&mut tx, &actor.stamp(event)).await?;
    }
    tx.commit().await?;
    let platform_event =
        AuditEvent::new(AuditAction::OrganizationCreate).with_entity("organization", org_id);
    audit::record_alone(
        app.db,
        OrganizationId::PLATFORM,
        &actor.stamp(platform_event),
    )
    .await?;
    Ok((organization, user))
}

/// Creates an account in `organization`, managed by `may`. The caller has checked that the
/// actor may give the role.
pub async fn create_user(
    app: Services<'_>,
    actor: &Actor,
    may: &ManageUsers,
    organization: OrganizationId,
    input: AccountInput,
) -> Result<User, AccountError> {
    let mut details = Details::new();
    let Some(account) = check_account(input, "", &mut details) else {
        return Err(AccountError::Invalid {
            message: "The user is not valid".to_owned(),
            details,
        });
    };
    if account.role == Role::SuperAdmin && !organization.is_platform()
        || account.role != Role::SuperAdmin && organization.is_platform()
    {
        return Err(AccountError::Invalid {
            message: "role: platform operators are SUPER_ADMIN, practice users are not".to_owned(),
            details: Details::from([(
                "role".to_owned(),
                "platform operators are SUPER_ADMIN, practice users are not".to_owned(),
            )]),
        });
    }
    if app
        .db
        .pre_auth()
        .find_login_user(&account.email)
        .await?
        .is_some()
    {
        return Err(AccountError::EmailTaken);
    }
    let password_hash = hash(app, account.password.clone()).await?;
    let mut tx = app
        .db
        .begin_tenant(organization, actor.user.map(|(u, _)| u))
        .await?;
    let user = insert_account(&mut tx, may, &account, &password_hash).await?;
    let event = AuditEvent::new(AuditAction::UserCreate)
        .with_entity("user", user.id)
        .with_details(json!({ "role": user.role }));
    audit::record(&mut tx, &actor.stamp(event)).await?;
    tx.commit().await?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn field_names_take_the_prefix() {
        assert_eq!(field("", "email"), "email");
        assert_eq!(field("admin", "email"), "adminEmail");
        assert_eq!(field("admin", "firstName"), "adminFirstName");
    }
}
