//! DPoP (RFC 9449, SPEC §5): login and refresh bind the token and the session to the client's
//! key; a bound token works only with a fresh proof of that key; every way a proof can be wrong
//! is refused with `INVALID_DPOP_PROOF` and `WWW-Authenticate: DPoP`, its reason audited.

use axum::http::{Method, StatusCode};
use haven::domain::Role;
use haven_testkit::{TestApp, TestResponse};
use serde_json::{Value, json};

mod client;

use client::{
    BASE, DpopKey, ath, bound_session, call, claims, get_bound, login, nonce, part, rejections,
    token_claims,
};

const ME: &str = "/api/auth/me";

fn assert_refused(response: &TestResponse, what: &str) {
    assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{what}");
    assert_eq!(response.error_code(), "INVALID_DPOP_PROOF", "{what}");
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("DPoP "), "{what}: {challenge}");
    // The answer never says which check failed.
    assert_eq!(
        response.json()["message"],
        "Missing or invalid DPoP proof",
        "{what}"
    );
}

async fn refresh_with(app: &TestApp, refresh: &str, proof: Option<&str>) -> TestResponse {
    let proofs: Vec<&str> = proof.into_iter().collect();
    call(
        app,
        Method::POST,
        "/api/auth/refresh",
        None,
        &proofs,
        Some(&json!({ "refreshToken": refresh })),
    )
    .await
}

#[tokio::test]
async fn a_client_with_a_key_logs_in_calls_and_refreshes_bound_to_it() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    for key in [DpopKey::es256(), DpopKey::ed25519()] {
        // Without the server's nonce: 400 USE_DPOP_NONCE, with one to use.
        let first = login(&app, &key, &user.email, None).await;
        assert_eq!(first.status, StatusCode::BAD_REQUEST);
        assert_eq!(first.error_code(), "USE_DPOP_NONCE");
        let nonce = first.header("dpop-nonce").expect("DPoP-Nonce").to_owned();
        assert!(
            first
                .header("www-authenticate")
                .is_some_and(|c| c.contains("use_dpop_nonce"))
        );

        let answer = login(&app, &key, &user.email, Some(&nonce)).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer.header("dpop-nonce").is_some(), "a fresh nonce");
        let body = answer.json();
        assert_eq!(body["tokenType"], "DPoP");
        let token = body["token"].as_str().expect("token").to_owned();
        assert_eq!(token_claims(&token)["cnf"]["jkt"], key.jkt());

        let me = get_bound(&app, &key, &token, ME).await;
        assert_eq!(
            me.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&me.body)
        );
        assert_eq!(me.json()["user"]["id"], json!(user.id));

        // A refresh proven by the same key, with a nonce, stays bound.
        let refresh = body["refreshToken"].as_str().expect("refresh");
        let proof = key.proof("POST", "/api/auth/refresh", json!({ "nonce": nonce }));
        let renewed = refresh_with(&app, refresh, Some(&proof)).await;
        assert_eq!(
            renewed.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&renewed.body)
        );
        let next = renewed.json()["token"].as_str().expect("token").to_owned();
        assert_eq!(renewed.json()["tokenType"], "DPoP");
        assert_eq!(token_claims(&next)["cnf"]["jkt"], key.jkt());
        assert_eq!(
            get_bound(&app, &key, &next, ME).await.status,
            StatusCode::OK
        );
    }
    assert!(app.audited(user.organization_id, "LOGIN_SUCCESS").await);
}

#[tokio::test]
async fn a_bound_token_is_useless_without_a_fresh_proof_of_its_key() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    let key = DpopKey::es256();
    let other = DpopKey::es256();
    let (token, _) = bound_session(&app, &key, &user.email).await;
    let good = |extra: Value| claims("GET", ME, merge(json!({ "ath": ath(&token) }), extra));
    let dpop = |proofs: Vec<String>| {
        let app = &app;
        let token = token.clone();
        async move {
            let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
            call(app, Method::GET, ME, Some(("DPoP", &token)), &proofs, None).await
        }
    };
    let mut with_d = key.header();
    with_d["jwk"]["d"] = json!("AAAA");
    let none_proof = || {
        let header = json!({ "typ": "dpop+jwt", "alg": "none", "jwk": key.jwk });
        format!("{}.{}.", part(&header), part(&good(json!({}))))
    };
    let hs256 = || {
        let header = json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": key.jwk });
        let input = format!("{}.{}", part(&header), part(&good(json!({}))));
        let secret = jsonwebtoken::EncodingKey::from_secret(b"the public key as a secret");
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &secret, jsonwebtoken::Algorithm::HS256)
                .expect("sign");
        format!("{input}.{signature}")
    };
    // RS256 is refused for what it is, before any key is looked at: the signature's bytes do
    // not matter (an RSA public key in the header, a placeholder signature).
    let rs256 = || {
        let jwk = json!({ "kty": "RSA", "e": "AQAB", "n": part(&json!("a 2048-bit modulus would go here")) });
        let header = json!({ "typ": "dpop+jwt", "alg": "RS256", "jwk": jwk });
        format!("{}.{}.c2lnbmF0dXJl", part(&header), part(&good(json!({}))))
    };
    // Each proof is made just before it is sent: a proof made up front could have grown older
    // than 60 s on a loaded machine and be refused as stale instead of for its own fault. The
    // times are far from the limits for the same reason.
    let at = |offset: i64| json!({ "iat": chrono::Utc::now().timestamp() + offset });
    let signed = |extra: Value| vec![key.proof_with(key.header(), good(extra))];
    let replayed = key.proof_with(key.header(), good(json!({})));
    assert_eq!(dpop(vec![replayed.clone()]).await.status, StatusCode::OK);

    type Proofs<'a> = Box<dyn Fn() -> Vec<String> + 'a>;
    let cases: Vec<(&str, Proofs<'_>, &str)> = vec![
        // First, while its one use is recent.
        ("replayed", Box::new(|| vec![replayed.clone()]), "replay"),
        ("no proof", Box::new(Vec::new), "missing"),
        (
            "two proofs",
            Box::new(|| [signed(json!({})), signed(json!({}))].concat()),
            "multiple",
        ),
        (
            "not a JWT",
            Box::new(|| vec!["not.a.jwt".into()]),
            "malformed",
        ),
        (
            "wrong typ",
            Box::new(|| {
                vec![key.proof_with(
                    merge(key.header(), json!({ "typ": "JWT" })),
                    good(json!({})),
                )]
            }),
            "type",
        ),
        ("alg none", Box::new(|| vec![none_proof()]), "algorithm"),
        ("HS256", Box::new(|| vec![hs256()]), "algorithm"),
        ("RS256", Box::new(|| vec![rs256()]), "algorithm"),
        (
            "private key in the jwk",
            Box::new(|| vec![key.proof_with(with_d.clone(), good(json!({})))]),
            "private_key",
        ),
        (
            "signed by another key than its jwk",
            Box::new(|| vec![other.proof_with(key.header(), good(json!({})))]),
            "signature",
        ),
        (
            "wrong htm",
            Box::new(|| signed(json!({ "htm": "POST" }))),
            "htm",
        ),
        (
            "wrong htu",
            Box::new(|| signed(json!({ "htu": format!("{BASE}/api/patients") }))),
            "htu",
        ),
        (
            "htu of another host",
            Box::new(|| signed(json!({ "htu": format!("https://evil.example{ME}") }))),
            "htu",
        ),
        ("no ath", Box::new(|| signed(json!({ "ath": null }))), "ath"),
        (
            "ath of another token",
            Box::new(|| signed(json!({ "ath": ath("another.token.value") }))),
            "ath",
        ),
        ("iat 2 min old", Box::new(|| signed(at(-120))), "iat_stale"),
        ("iat 1 min ahead", Box::new(|| signed(at(60))), "iat_future"),
        (
            "no jti",
            Box::new(|| signed(json!({ "jti": null }))),
            "claims",
        ),
        (
            "a valid proof of another key",
            Box::new(|| vec![other.proof_with(other.header(), good(json!({})))]),
            "key_mismatch",
        ),
    ];
    let mut expected = Vec::new();
    for (what, proofs, reason) in cases {
        assert_refused(&dpop(proofs()).await, what);
        expected.push(reason.to_owned());
    }
    // As a bearer token: a downgrade, refused.
    let bearer = app
        .send(
            axum::http::Request::builder()
                .uri(ME)
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    assert_refused(&bearer, "bound token as bearer");
    expected.push("bound_token_as_bearer".to_owned());
    // A DPoP authorization with an unbound token.
    let unbound_proof = key.proof("GET", ME, json!({ "ath": ath(&user.token) }));
    let unbound = call(
        &app,
        Method::GET,
        ME,
        Some(("DPoP", &user.token)),
        &[&unbound_proof],
        None,
    )
    .await;
    assert_refused(&unbound, "unbound token as DPoP");
    expected.push("unbound_token".to_owned());

    assert_eq!(rejections(&app, user.organization_id).await, expected);
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    base
}

#[tokio::test]
async fn login_proofs_need_the_nonce_the_right_url_and_a_public_key() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    let key = DpopKey::ed25519();
    let nonce = nonce(&app, &key, &user.email).await;
    let body = json!({ "email": user.email, "password": haven_testkit::PASSWORD });
    let post = |proof: String| {
        let (app, body) = (&app, body.clone());
        async move {
            call(
                app,
                Method::POST,
                "/api/auth/login",
                None,
                &[&proof],
                Some(&body),
            )
            .await
        }
    };

    let forged_nonce = post(key.proof(
        "POST",
        "/api/auth/login",
        json!({ "nonce": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }),
    ))
    .await;
    assert_eq!(forged_nonce.error_code(), "USE_DPOP_NONCE");
    let wrong_url = post(key.proof("POST", "/api/auth/refresh", json!({ "nonce": nonce }))).await;
    assert_refused(&wrong_url, "htu of another route");
    let proof = key.proof("POST", "/api/auth/login", json!({ "nonce": nonce }));
    assert_eq!(post(proof.clone()).await.status, StatusCode::OK);
    assert_refused(&post(proof).await, "a login proof used twice");

    // Refusals before the account is known are audited in the platform's trail.
    let platform = rejections(&app, haven::ids::OrganizationId::PLATFORM).await;
    assert_eq!(
        platform,
        ["nonce_missing", "nonce_invalid", "htu", "replay"]
    );
}

#[tokio::test]
async fn a_refresh_proven_by_another_key_ends_the_session() {
    let app = TestApp::new().await;
    let user = app.org_with("Practice A", Role::Clinician).await;
    let key = DpopKey::es256();
    let thief = DpopKey::es256();
    let (token, refresh) = bound_session(&app, &key, &user.email).await;
    let nonce = nonce(&app, &thief, &user.email).await;

    // No nonce: 400 and nothing consumed; no proof: refused and nothing consumed.
    let bare = refresh_with(
        &app,
        &refresh,
        Some(&key.proof("POST", "/api/auth/refresh", json!({}))),
    )
    .await;
    assert_eq!(bare.error_code(), "USE_DPOP_NONCE");
    assert_refused(
        &refresh_with(&app, &refresh, None).await,
        "bound session without proof",
    );

    let stolen = thief.proof("POST", "/api/auth/refresh", json!({ "nonce": nonce }));
    assert_refused(
        &refresh_with(&app, &refresh, Some(&stolen)).await,
        "another key",
    );
    assert_eq!(
        rejections(&app, user.organization_id).await,
        ["nonce_missing", "missing", "key_mismatch"]
    );

    // The session is over: its owner cannot refresh, and its access token stops working.
    let own = key.proof("POST", "/api/auth/refresh", json!({ "nonce": nonce }));
    assert_eq!(
        refresh_with(&app, &refresh, Some(&own)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_bound(&app, &key, &token, ME).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_practice_mode_decides_between_bearer_and_dpop() {
    let app = TestApp::new().await;
    let admin = app.org_with("Practice A", Role::Admin).await;
    let user = app.user_in(admin.organization_id, Role::Clinician).await;
    let key = DpopKey::es256();
    let settings = |mode: &str| {
        let (app, admin) = (&app, &admin);
        let mode = mode.to_owned();
        async move {
            app.json_as(
                admin,
                Method::PATCH,
                "/api/organization/settings",
                &json!({ "dpopMode": mode }),
            )
            .await
        }
    };
    let credentials = json!({ "email": user.email, "password": haven_testkit::PASSWORD });
    let bearer_login = || app.json(Method::POST, "/api/auth/login", &credentials);
    assert_eq!(
        app.get_as(&admin, "/api/organization/settings")
            .await
            .json()["settings"]["dpopMode"],
        "optional"
    );
    assert_eq!(bearer_login().await.json()["tokenType"], "Bearer");

    let required = settings("required").await;
    assert_eq!(required.status, StatusCode::OK);
    assert_eq!(required.json()["settings"]["dpopMode"], "required");
    assert_refused(&bearer_login().await, "bearer login when DPoP is required");
    // An unbound session cannot be refreshed any more either.
    assert_refused(
        &refresh_with(&app, &user.refresh_token, None).await,
        "bearer refresh when DPoP is required",
    );
    let (token, _) = bound_session(&app, &key, &user.email).await;
    assert_eq!(
        get_bound(&app, &key, &token, ME).await.status,
        StatusCode::OK
    );
    let cookie = app
        .json(
            Method::POST,
            "/api/auth/login",
            &json!({ "email": user.email, "password": haven_testkit::PASSWORD, "session": "cookie" }),
        )
        .await;
    assert_eq!(
        cookie.status,
        StatusCode::OK,
        "cookie sessions are unchanged"
    );

    // Disabled: a proof is ignored and the token is a bearer token.
    assert_eq!(settings("disabled").await.status, StatusCode::OK);
    let nonce = nonce(&app, &key, &user.email).await;
    let answer = login(&app, &key, &user.email, Some(&nonce)).await;
    assert_eq!(answer.json()["tokenType"], "Bearer");
    assert!(
        token_claims(answer.json()["token"].as_str().expect("token"))
            .get("cnf")
            .is_none()
    );

    let bad = settings("sometimes").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let clinician = app
        .json_as(
            &user,
            Method::PATCH,
            "/api/organization/settings",
            &json!({ "dpopMode": "required" }),
        )
        .await;
    assert_eq!(clinician.status, StatusCode::FORBIDDEN);
    let changes: Vec<Value> = app
        .audit_events(admin.organization_id)
        .await
        .into_iter()
        .filter(|(action, _, _)| action == "SETTINGS_UPDATE")
        .map(|(_, _, details)| details["changed"]["dpopMode"].clone())
        .collect();
    assert_eq!(changes, [json!("required"), json!("disabled")]);
    assert_eq!(
        rejections(&app, admin.organization_id).await,
        ["required", "required"]
    );
}

#[tokio::test]
async fn the_server_advertises_its_dpop_algorithms() {
    let app = TestApp::new().await;
    let response = app.get("/.well-known/haven-auth").await;
    assert_eq!(response.status, StatusCode::OK);
    let body = response.json();
    assert_eq!(
        body["dpopSigningAlgValuesSupported"],
        json!(["ES256", "EdDSA"])
    );
    assert_eq!(body["tokenTypesSupported"], json!(["Bearer", "DPoP"]));
    assert_eq!(body["publicUrl"], BASE);
}

#[tokio::test]
async fn a_proof_replayed_at_another_instance_is_refused_through_redis() {
    let url = haven_testkit::services::redis_url();
    let prefix = format!("haven:test:{}", uuid::Uuid::new_v4().simple());
    if let Err(error) = haven::ratelimit::RateLimiter::redis(&url.clone().into(), &prefix).await {
        haven_testkit::services::unavailable("the shared DPoP replay test", "Redis", &error);
        return;
    }
    let settings = || {
        let mut settings = haven::app::Settings::development();
        settings.auth.redis_url = Some(url.clone().into());
        settings.auth.redis_key_prefix = prefix.clone();
        settings
    };
    let first = TestApp::with_settings(settings()).await;
    let second = first.another_instance_with(settings()).await;
    let user = first.org_with("Practice A", Role::Clinician).await;
    let key = DpopKey::es256();
    let (token, _) = bound_session(&first, &key, &user.email).await;
    let proof = key.proof("GET", ME, json!({ "ath": ath(&token) }));

    let once = call(
        &first,
        Method::GET,
        ME,
        Some(("DPoP", &token)),
        &[&proof],
        None,
    )
    .await;
    let again = call(
        &second,
        Method::GET,
        ME,
        Some(("DPoP", &token)),
        &[&proof],
        None,
    )
    .await;

    assert_eq!(once.status, StatusCode::OK);
    assert_refused(&again, "replayed at the other instance");
    assert_eq!(rejections(&first, user.organization_id).await, ["replay"]);
}
