//! `haven admin create-org` and `haven admin create-user`.

use std::io::{BufRead, IsTerminal};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::accounts::{self, AccountError, AccountInput, Actor};
use crate::app::App;
use crate::auth::password;
use crate::cli::{CreateOrgArgs, CreateUserArgs};
use crate::policy::users::ManageUsers;

/// The password: the first line of standard input when it is piped, else a generated one
/// (which is printed once).
fn password_from_stdin() -> anyhow::Result<(SecretString, bool)> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let line = line.trim_end_matches(['\n', '\r']);
        if !line.is_empty() {
            return Ok((SecretString::from(line.to_owned()), false));
        }
    }
    Ok((password::generate(), true))
}

fn explain(error: AccountError) -> anyhow::Error {
    match error {
        AccountError::Invalid { message, details } => {
            let details = details
                .iter()
                .map(|(field, problem)| format!("\n  {field}: {problem}"))
                .collect::<String>();
            anyhow::anyhow!("{message}{details}")
        }
        other => other.into(),
    }
}

#[expect(
    clippy::print_stdout,
    reason = "the command's result is for the operator"
)]
fn print_result(value: &serde_json::Value, generated: Option<&SecretString>) {
    println!("{value:#}");
    if let Some(password) = generated {
        println!(
            "\nGenerated password (shown only once):\n\n    {}\n",
            password.expose_secret()
        );
    }
}

/// Creates a practice and its first ADMIN.
pub async fn create_org(app: &App, args: CreateOrgArgs) -> anyhow::Result<()> {
    let (password, generated) = password_from_stdin()?;
    let admin = AccountInput {
        email: args.admin_email,
        password: password.clone(),
        role: crate::domain::Role::Admin,
        first_name: args.admin_first_name,
        last_name: args.admin_last_name,
    };
    let (organization, admin) =
        accounts::create_organization(app.accounts(), &Actor::command_line(), &args.name, admin)
            .await
            .map_err(explain)?;
    print_result(
        &json!({ "organization": organization, "admin": { "id": admin.id, "email": admin.email, "role": admin.role } }),
        generated.then_some(&password),
    );
    Ok(())
}

/// Creates an account in an organization.
pub async fn create_user(app: &App, args: CreateUserArgs) -> anyhow::Result<()> {
    let (password, generated) = password_from_stdin()?;
    let input = AccountInput {
        email: args.email,
        password: password.clone(),
        role: args.role,
        first_name: args.first_name,
        last_name: args.last_name,
    };
    let user = accounts::create_user(
        app.accounts(),
        &Actor::command_line(),
        &ManageUsers::command_line(args.org),
        args.org,
        input,
    )
    .await
    .map_err(explain)?;
    print_result(&json!({ "user": user }), generated.then_some(&password));
    Ok(())
}
