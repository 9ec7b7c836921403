//! Attacks on authentication that the security review found open (issue 14, items 1, 3, 5, 9):
//! racing one refresh token, telling accounts apart by login timing, refreshing a cookie
//! session cross-site, and look-alike email addresses.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use haven::domain::Role;
use haven::ids::OrganizationId;
use haven_testkit::{PASSWORD, TestApp, TestResponse, TestUser, json_request, request};
use serde_json::{Value, json};

async fn refresh(app: &TestApp, token: &str) -> TestResponse {
    app.json(
        Method::POST,
        "/api/auth/refresh",
        &json!({ "refreshToken": token }),
    )
    .await
}

async fn login(app: &TestApp, email: &str, password: &str) -> TestResponse {
    app.json(
        Method::POST,
        "/api/auth/login",
        &json!({ "email": email, "password": password }),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Item 1: refresh rotation is atomic.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_presentations_of_one_refresh_token_give_one_pair_and_revoke_the_session() {
    let app = Arc::new(TestApp::new().await);
    let user = app.org_with("Practice A", Role::Clinician).await;
    let start = Arc::new(tokio::sync::Barrier::new(10));

    let racers: Vec<_> = (0..10)
        .map(|_| {
            let (app, start, token) = (app.clone(), start.clone(), user.refresh_token.clone());
            tokio::spawn(async move {
                start.wait().await;
                refresh(&app, &token).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for racer in racers {
        answers.push(racer.await.expect("task"));
    }

    let winners: Vec<&TestResponse> = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one presentation is honoured");
    assert!(
        answers
            .iter()
            .filter(|a| a.status != StatusCode::OK)
            .all(|a| a.status == StatusCode::UNAUTHORIZED),
        "every other one is refused"
    );
    let next = winners[0].json()["refreshToken"]
        .as_str()
        .expect("new refresh token")
        .to_owned();
    assert_eq!(
        refresh(&app, &next).await.status,
        StatusCode::UNAUTHORIZED,
        "the winner's new token dies with the family"
    );
    let reuse = app
        .audit_events(user.organization_id)
        .await
        .into_iter()
        .filter(|(action, outcome, _)| action == "REFRESH_TOKEN_REUSE" && outcome == "denied")
        .count();
    assert_eq!(reuse, 1, "the reuse is recorded once");
    let pool = app.db().owner_pool().await;
    let reasons: Vec<Option<String>> =
        sqlx::query_scalar("SELECT revoked_reason FROM refresh_families WHERE user_id = $1")
            .bind(user.id)
            .fetch_all(&pool)
            .await
            .expect("families");
    pool.close().await;
    assert_eq!(reasons, vec![Some("reuse".to_owned())]);
}

#[tokio::test]
async fn a_consumed_token_presented_after_the_winner_refreshed_on_still_revokes() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Billing).await;
    let second = refresh(&app, &user.refresh_token).await.json()["refreshToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let third = refresh(&app, &second).await.json()["refreshToken"]
        .as_str()
        .expect("token")
        .to_owned();

    // The first token, stolen long ago, comes back two rotations later.
    let replay = refresh(&app, &user.refresh_token).await;

    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&app, &third).await.status, StatusCode::UNAUTHORIZED);
    assert!(
        app.audited(user.organization_id, "REFRESH_TOKEN_REUSE")
            .await
    );
}

// ---------------------------------------------------------------------------------------------
// Item 3: no account enumeration by timing.

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::test]
async fn login_times_per_attempt_number_do_not_tell_known_from_unknown_emails() {
    const ROUNDS: usize = 9;
    const ATTEMPTS: usize = 6;
    let mut settings = haven::app::Settings::development();
    settings.request_timeout = std::time::Duration::from_secs(10);
    settings.auth.auth_rate_limit = 100_000;
    let app = TestApp::with_settings(settings).await;
    let org = app.db().create_organization("Practice A").await;
    let hash = haven::auth::password::hash(&PASSWORD.to_owned().into()).expect("hash");
    // Per attempt number: the known email's time, the unknown's, and their difference (in ms)
    // measured back to back, which cancels most drift in machine load.
    let mut known = vec![Vec::new(); ATTEMPTS];
    let mut unknown = vec![Vec::new(); ATTEMPTS];
    let mut paired = vec![Vec::new(); ATTEMPTS];
    for round in 0..ROUNDS {
        // A fresh account per round: the lock after five failures outlives the test.
        let victim = format!("victim{round}@a.example.org");
        app.db()
            .create_user_with_hash(org, Role::Clinician, &victim, &hash)
            .await;
        let ghost = format!("ghost{round}@a.example.org");
        for attempt in 0..ATTEMPTS {
            let guess = format!("wrong guess {round}-{attempt}");
            // Alternate the order, so neither always runs on a warmer cache.
            let victim_first = (round + attempt) % 2 == 0;
            let mut took = [0.0; 2];
            for exists in [victim_first, !victim_first] {
                let email = if exists { &victim } else { &ghost };
                let started = Instant::now();
                let answer = login(&app, email, &guess).await;
                took[usize::from(exists)] = started.elapsed().as_secs_f64() * 1000.0;
                assert_eq!(answer.error_code(), "INVALID_CREDENTIALS");
            }
            let [ghost_ms, victim_ms] = took;
            known[attempt].push(victim_ms);
            unknown[attempt].push(ghost_ms);
            paired[attempt].push(victim_ms - ghost_ms);
        }
    }

    let report: Vec<String> = (0..ATTEMPTS)
        .map(|n| {
            format!(
                "attempt {}: known {:.0} ms, unknown {:.0} ms, paired difference {:.0} ms",
                n + 1,
                median(known[n].clone()),
                median(unknown[n].clone()),
                median(paired[n].clone()),
            )
        })
        .collect();
    for (n, differences) in paired.into_iter().enumerate() {
        assert!(
            median(differences).abs() <= 50.0,
            "attempt {} tells the accounts apart:\n{}",
            n + 1,
            report.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Item 5: CSRF on cookie refresh.

struct CookieSession {
    jar: String,
    csrf: String,
}

fn cookie_session(answer: &TestResponse) -> CookieSession {
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let jar = answer
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| {
            v.to_str()
                .expect("ascii")
                .split(';')
                .next()
                .expect("pair")
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("; ");
    let csrf = answer.json()["csrfToken"]
        .as_str()
        .expect("csrf token")
        .to_owned();
    CookieSession { jar, csrf }
}

async fn cookie_login(app: &TestApp, user: &TestUser) -> CookieSession {
    let answer = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": user.email, "password": PASSWORD, "session": "cookie" }),
        )
        .await;
    cookie_session(&answer)
}

async fn cookie_post(app: &TestApp, path: &str, jar: &str, csrf: Option<&str>) -> TestResponse {
    let mut req = request(Method::POST, path, Body::empty());
    req.headers_mut()
        .insert(header::COOKIE, jar.parse().expect("cookie"));
    if let Some(csrf) = csrf {
        req.headers_mut()
            .insert("x-csrf-token", csrf.parse().expect("header"));
    }
    app.send(req).await
}

#[tokio::test]
async fn a_cookie_refresh_without_the_csrf_token_is_refused_and_burns_nothing() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    let session = cookie_login(&app, &user).await;
    let other = cookie_login(&app, &user).await;

    // A cross-site form post: the browser adds the cookies, the page cannot add the header.
    for forged in [
        None,
        Some("AAAA"),
        Some(other.csrf.as_str()), // another session's token
        Some(session.csrf.split_once('.').expect("two parts").0),
    ] {
        let refused = cookie_post(&app, "/api/auth/refresh", &session.jar, forged).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{forged:?}");
        assert_eq!(refused.error_code(), "CSRF_FAILED");
        assert!(refused.headers.get(header::SET_COOKIE).is_none());
    }

    let genuine = cookie_post(&app, "/api/auth/refresh", &session.jar, Some(&session.csrf)).await;
    assert_eq!(
        genuine.status,
        StatusCode::OK,
        "the refused attempts did not consume the token"
    );
    assert!(
        !app.audited(user.organization_id, "REFRESH_TOKEN_REUSE")
            .await
    );
}

#[tokio::test]
async fn the_csrf_token_rotates_with_the_session_tokens() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    let first = cookie_login(&app, &user).await;

    let refreshed = cookie_post(&app, "/api/auth/refresh", &first.jar, Some(&first.csrf)).await;

    let second = cookie_session(&refreshed);
    let body = refreshed.json();
    assert!(body.get("token").is_none() && body.get("refreshToken").is_none());
    assert_ne!(
        second.csrf, first.csrf,
        "a new CSRF token with the new tokens"
    );
    let stale = cookie_post(&app, "/api/auth/refresh", &second.jar, Some(&first.csrf)).await;
    assert_eq!(
        stale.status,
        StatusCode::FORBIDDEN,
        "the old one no longer refreshes"
    );
    assert_eq!(stale.error_code(), "CSRF_FAILED");
    let third = cookie_post(&app, "/api/auth/refresh", &second.jar, Some(&second.csrf)).await;
    let third = cookie_session(&third);
    let logout = cookie_post(&app, "/api/auth/logout", &third.jar, Some(&third.csrf)).await;
    assert_eq!(
        logout.status,
        StatusCode::NO_CONTENT,
        "the latest token passes the data routes' check"
    );
}

#[tokio::test]
async fn a_refresh_token_in_the_body_needs_no_csrf_token() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;

    let mut req = json_request(
        Method::POST,
        "/api/auth/refresh",
        &json!({ "refreshToken": user.refresh_token }),
        None,
    );
    req.headers_mut().insert(
        header::COOKIE,
        "haven_refresh=hvn_rt_x".parse().expect("cookie"),
    );
    let answer = app.send(req).await;

    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.json()["refreshToken"].is_string());
}

// ---------------------------------------------------------------------------------------------
// Item 9: look-alike emails.

const KELVIN: &str = "\u{212A}ate.lee@a.example.org"; // KELVIN SIGN for k
const FULLWIDTH: &str = "\u{FF4B}\u{FF41}\u{FF54}\u{FF45}.lee@a.example.org";
const CYRILLIC: &str = "k\u{0430}te.lee@a.example.org"; // CYRILLIC SMALL LETTER A
const ZERO_WIDTH: &str = "ka\u{200B}te.lee@a.example.org";
const GENUINE: &str = "kate.lee@a.example.org";

fn new_user(email: &str) -> Value {
    json!({
        "email": email,
        "password": "quiet river orchard 1987",
        "role": "CLINICIAN",
        "firstName": "Sam",
        "lastName": "Okafor",
    })
}

#[tokio::test]
async fn look_alikes_of_an_existing_email_cannot_create_a_second_account() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let created = app
        .json_as(
            &admin,
            Method::POST,
            "/api/users",
            &new_user("Kate.Lee@A.Example.org"),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.json()["user"]["email"], GENUINE, "stored canonical");

    for same in [KELVIN, FULLWIDTH, "KATE.LEE@A.EXAMPLE.ORG"] {
        let answer = app
            .json_as(&admin, Method::POST, "/api/users", &new_user(same))
            .await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{same:?}");
        assert_eq!(answer.error_code(), "CONFLICT");
    }
    for refused in [
        CYRILLIC,
        ZERO_WIDTH,
        "ka\u{00AD}te.lee@a.example.org", // soft hyphen
        "kate.lee@a.exam\u{202E}ple.org", // right-to-left override
        "kate\u{200D}.lee@a.example.org", // zero-width joiner
        "kate.lee@\u{0430}.example.org",  // Cyrillic а as a domain label of its own
        "\u{0441}\u{043E}\u{0440}\u{0435}@a.example.org", // "cope" all in Cyrillic
    ] {
        let answer = app
            .json_as(&admin, Method::POST, "/api/users", &new_user(refused))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{refused:?}");
        assert_eq!(answer.error_code(), "VALIDATION_ERROR");
        assert!(answer.json()["details"]["email"].is_string());
    }
    let users = app.get_as(&admin, "/api/users?limit=100").await.json();
    assert_eq!(
        users["pagination"]["total"], 2,
        "only the admin and the genuine account"
    );
}

#[tokio::test]
async fn look_alike_admin_emails_cannot_create_a_practice() {
    let app = TestApp::new().await;
    let operator = app
        .user_in(OrganizationId::PLATFORM, Role::SuperAdmin)
        .await;
    let org = app.db().create_organization("Practice A").await;
    let existing = "kate.lee@b.example.org";
    app.db().create_user(org, Role::Admin, existing).await;
    let new_org = |email: &str| {
        json!({
            "name": "Sunrise ABA",
            "adminEmail": email,
            "adminPassword": "a sturdy practice passphrase 9",
            "adminFirstName": "Dana",
            "adminLastName": "Reyes",
        })
    };
    let kelvin = existing.replacen('k', "\u{212A}", 1);
    let fullwidth: String = existing
        .chars()
        .map(|c| match c {
            'a'..='z' => char::from_u32(c as u32 - 'a' as u32 + 0xFF41).expect("fullwidth"),
            c => c,
        })
        .collect();

    for same in [&kelvin, &fullwidth] {
        let answer = app
            .json_as(
                &operator,
                Method::POST,
                "/api/admin/organizations",
                &new_org(same),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CONFLICT, "{same:?}");
    }
    let cyrillic = existing.replacen('a', "\u{0430}", 1);
    let zero_width = existing.replacen('@', "\u{200B}@", 1);
    for refused in [&cyrillic, &zero_width] {
        let answer = app
            .json_as(
                &operator,
                Method::POST,
                "/api/admin/organizations",
                &new_org(refused),
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{refused:?}");
        assert!(answer.json()["details"]["adminEmail"].is_string());
    }
}

#[tokio::test]
async fn logins_with_look_alikes_reach_the_same_account_or_none() {
    let app = TestApp::new().await;
    let org = app.db().create_organization("Practice A").await;
    let hash = haven::auth::password::hash(&PASSWORD.to_owned().into()).expect("hash");
    let id = app
        .db()
        .create_user_with_hash(org, Role::Clinician, GENUINE, &hash)
        .await;

    for same in [KELVIN, FULLWIDTH] {
        let answer = login(&app, same, PASSWORD).await;
        assert_eq!(answer.status, StatusCode::OK, "{same:?}");
        assert_eq!(answer.json()["user"]["id"], json!(id));
        assert_eq!(answer.json()["user"]["email"], GENUINE);
    }
    for unknown in [CYRILLIC, ZERO_WIDTH] {
        let answer = login(&app, unknown, PASSWORD).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{unknown:?}");
        assert_eq!(answer.error_code(), "INVALID_CREDENTIALS");
    }
}

#[tokio::test]
async fn the_email_migration_canonicalises_stored_addresses_but_not_colliding_look_alikes() {
    let app = TestApp::new().await;
    let org = app.db().create_organization("Practice A").await;
    let hash = haven::auth::password::hash(&PASSWORD.to_owned().into()).expect("hash");
    let db = app.db();
    // Rows written before emails were canonicalised.
    let legacy = db
        .create_user_with_hash(org, Role::Clinician, "Legacy.User@Example.ORG", &hash)
        .await;
    let wide = db
        .create_user_with_hash(org, Role::Billing, "\u{FF57}ide@example.org", &hash)
        .await;
    let genuine = db
        .create_user_with_hash(org, Role::Billing, "kate@example.org", &hash)
        .await;
    let lookalike = db
        .create_user_with_hash(org, Role::Billing, "\u{212A}ate@example.org", &hash)
        .await;

    let pool = db.owner_pool().await;
    sqlx::raw_sql(include_str!(
        "../../migrations/20261207000101_canonical_emails.sql"
    ))
    .execute(&pool)
    .await
    .expect("the migration runs again");
    let email = |id| {
        sqlx::query_scalar::<_, String>("SELECT email FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
    };
    assert_eq!(email(legacy).await.expect("row"), "legacy.user@example.org");
    assert_eq!(email(wide).await.expect("row"), "wide@example.org");
    assert_eq!(email(genuine).await.expect("row"), "kate@example.org");
    assert_eq!(
        email(lookalike).await.expect("row"),
        "\u{212A}ate@example.org",
        "a collision is left for an operator"
    );
    pool.close().await;

    let answer = login(&app, "LEGACY.user@example.org", PASSWORD).await;
    assert_eq!(answer.json()["user"]["id"], json!(legacy));
    let answer = login(&app, "\u{212A}ate@example.org", PASSWORD).await;
    assert_eq!(
        answer.json()["user"]["id"],
        json!(genuine),
        "the typed look-alike reaches the genuine account, never the old look-alike row"
    );
}
