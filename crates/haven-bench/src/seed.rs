//! Seeding through the public API, as an integrator would: an organization with its ADMIN, then
//! users or patients. Every name carries a per-run suffix, so runs against one long-lived Haven
//! (`--url`) never collide on the platform-wide unique emails.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use hyper::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

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
    /// Its id.
    pub id: String,
    /// The per-run suffix of its names.
    pub run: String,
    /// Its ADMIN's user id.
    pub admin_id: String,
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

/// The email of the ADMIN of the organization of run `run` (its password is [`PASSWORD`]).
#[must_use]
pub fn admin_email(run: &str) -> String {
    format!("admin-{run}@{DOMAIN}")
}

/// Logs in as the target's operator, creates an organization and logs in as its ADMIN.
pub async fn organization(target: &Target) -> anyhow::Result<Organization> {
    let api = &target.api;
    let operator = login(api, &target.operator.email, &target.operator.password)
        .await
        .context("logging in as the platform operator")?;
    let run = run_id();
    let admin_email = admin_email(&run);
    let body = json!({
        "name": format!("Bench practice {run}"),
        "adminEmail": admin_email,
        "adminPassword": PASSWORD,
        "adminFirstName": FIRST_NAME,
        "adminLastName": "Admin",
    });
    let created = api
        .post("/api/admin/organizations", &body, Some(&operator))
        .await?
        .json(StatusCode::CREATED, "creating the organization")?;
    let text = |value: &Value, what: &str| {
        value
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the new organization's answer has no {what}"))
    };
    let id = text(&created["organization"]["id"], "organization id")?;
    let admin_id = text(&created["admin"]["id"], "admin id")?;
    let admin_token = login(api, &admin_email, PASSWORD).await?;
    Ok(Organization {
        id,
        run,
        admin_id,
        admin_token,
    })
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

/// The demographics every benchmark patient gets, all six PHI fields filled: realistic lengths
/// (the pgbench scripts use ciphertexts of the same sizes, see [`ciphertext_len`]).
pub const PATIENT_FIRST_NAME: &str = "Jordan";
/// Family name.
pub const PATIENT_LAST_NAME: &str = "Castellano";
/// Date of birth.
pub const PATIENT_DATE_OF_BIRTH: &str = "2015-06-01";
/// Phone number.
pub const PATIENT_PHONE: &str = "+1 555-010-4477";
/// Email.
pub const PATIENT_EMAIL: &str = "jordan.castellano@example.com";
/// The `n`th MRN of a run: `MRN-000000000042`, unique per organization, always 16 characters.
#[must_use]
pub fn mrn(n: u64) -> String {
    format!("MRN-{:012}", n % 1_000_000_000_000)
}

/// The size Haven stores a PHI field of `plaintext_len` bytes in: version (1) ‖ key id (16) ‖
/// nonce (12) ‖ ciphertext (as long as the plaintext) ‖ tag (16).
#[must_use]
pub const fn ciphertext_len(plaintext_len: usize) -> usize {
    1 + 16 + 12 + plaintext_len + 16
}

/// The body of `POST /api/patients` for a patient with MRN `mrn`.
#[must_use]
pub fn patient_body(mrn: &str) -> Value {
    json!({
        "firstName": PATIENT_FIRST_NAME,
        "lastName": PATIENT_LAST_NAME,
        "dateOfBirth": PATIENT_DATE_OF_BIRTH,
        "medicalRecordNumber": mrn,
        "phoneNumber": PATIENT_PHONE,
        "email": PATIENT_EMAIL,
    })
}

/// Creates `count` patients in `org` as its ADMIN, `parallel` at a time; their ids, in MRN
/// order. MRNs `first..first + count` are used.
pub async fn patients(
    api: &Api,
    org: &Organization,
    first: u64,
    count: u64,
    parallel: usize,
) -> anyhow::Result<Vec<String>> {
    let mut ids = vec![String::new(); usize::try_from(count)?];
    let mut running = JoinSet::new();
    let mut next = 0;
    while next < count || !running.is_empty() {
        while next < count && running.len() < parallel.max(1) {
            let (api, token, n) = (api.clone(), org.admin_token.clone(), next);
            running.spawn(async move {
                let body = patient_body(&mrn(first + n));
                let answer = api.post("/api/patients", &body, Some(&token)).await?;
                let json = answer.json(StatusCode::CREATED, &format!("creating patient {n}"))?;
                let id = json["patient"]["id"]
                    .as_str()
                    .map(str::to_owned)
                    .context("the new patient has no id")?;
                anyhow::Ok((n, id))
            });
            next += 1;
        }
        if let Some(done) = running.join_next().await {
            let (n, id) = done??;
            ids[usize::try_from(n)?] = id;
        }
    }
    Ok(ids)
}
