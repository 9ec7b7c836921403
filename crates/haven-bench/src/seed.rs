//! Seeding through the public API, as an integrator would: an organization with its ADMIN, then
//! users. Every name carries a per-run suffix, so runs against one long-lived Haven (`--url`)
//! never collide on the platform-wide unique emails.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use hyper::StatusCode;
use serde_json::json;

use crate::http::Api;
use crate::target::Target;

/// The password of every seeded account: scores ≥ 3 with zxcvbn and contains none of the
/// seeded emails or names, as Haven's policy requires.
pub const PASSWORD: &str = "harbor-lantern-quartz-7731";
const FIRST_NAME: &str = "Load";
const DOMAIN: &str = "bench.haven.test";

/// An account that can log in.
#[derive(Debug, Clone)]
pub struct Account {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A seeded organization, with its ADMIN's access token.
#[derive(Debug)]
pub struct Organization {
    /// The per-run suffix of its names.
    pub run: String,
    /// A bearer token of its ADMIN.
    pub admin_token: String,
}

/// A suffix unique to this run.
fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("{nanos:x}")
}

/// `POST /api/auth/login` → the access token.
pub async fn login(api: &Api, email: &str, password: &str) -> anyhow::Result<String> {
    let body = json!({ "email": email, "password": password });
    let answer = api.post("/api/auth/login", &body, None).await?;
    let json = answer.json(StatusCode::OK, &format!("logging in as {email}"))?;
    json["token"]
        .as_str()
        .map(str::to_owned)
        .context("the login answer has no token")
}

/// Logs in as the target's operator, creates an organization and logs in as its ADMIN.
pub async fn organization(target: &Target) -> anyhow::Result<Organization> {
    let api = &target.api;
    let operator = login(api, &target.operator.email, &target.operator.password)
        .await
        .context("logging in as the platform operator")?;
    let run = run_id();
    let admin_email = format!("admin-{run}@{DOMAIN}");
    let body = json!({
        "name": format!("Bench practice {run}"),
        "adminEmail": admin_email,
        "adminPassword": PASSWORD,
        "adminFirstName": FIRST_NAME,
        "adminLastName": "Admin",
    });
    api.post("/api/admin/organizations", &body, Some(&operator))
        .await?
        .json(StatusCode::CREATED, "creating the organization")?;
    let admin_token = login(api, &admin_email, PASSWORD).await?;
    Ok(Organization { run, admin_token })
}

/// Creates `count` users of `role` in `org`, one after another (each costs the server a
/// password hash; seeding is not what is measured).
pub async fn users(
    api: &Api,
    org: &Organization,
    role: &str,
    count: usize,
) -> anyhow::Result<Vec<Account>> {
    let mut accounts = Vec::with_capacity(count);
    for n in 0..count {
        let email = format!("user{n}-{}@{DOMAIN}", org.run);
        let body = json!({
            "email": email,
            "password": PASSWORD,
            "role": role,
            "firstName": FIRST_NAME,
            "lastName": format!("Client {n}"),
        });
        api.post("/api/users", &body, Some(&org.admin_token))
            .await?
            .json(StatusCode::CREATED, &format!("creating user {n}"))?;
        accounts.push(Account {
            email,
            password: PASSWORD.to_owned(),
        });
    }
    Ok(accounts)
}
