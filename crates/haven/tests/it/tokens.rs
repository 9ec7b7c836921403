//! Access tokens (SPEC §5): what is issued verifies with every claim intact; anything but a
//! genuine, current RS256 token of ours is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use haven::auth::keys::KeyStore;
use haven::auth::token::{AccessClaims, Rejection};
use haven::domain::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::fixtures::keys::{claims, loaded, private_key, sign_rs256};

async fn rejection(store: &KeyStore, token: &str) -> Rejection {
    let error = store.verify(token).await.expect_err("refused");
    assert_eq!(
        error.to_string(),
        "invalid or expired access token",
        "the message never says why"
    );
    error.reason()
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Claims with their times moved: `exp` and `nbf` relative to now, in seconds.
fn claims_at(nbf: i64, exp: i64) -> AccessClaims {
    let now = Utc::now().timestamp();
    AccessClaims {
        iat: now + nbf.min(0),
        nbf: now + nbf,
        exp: now + exp,
        ..claims()
    }
}

#[tokio::test]
async fn an_issued_token_verifies_with_every_claim_intact() {
    let (_db, _master, store) = loaded().await;
    let claims = claims();

    let token = store.issue(&claims).expect("issues");
    let verified = store.verify(&token).await.expect("verifies");

    assert_eq!(verified, claims);
    assert_eq!(verified.iss, "haven");
    assert_eq!(verified.aud, "haven-api");
    assert_eq!(verified.role, Role::Clinician);
    assert_eq!(verified.exp - verified.iat, 15 * 60);
    assert_eq!(verified.nbf, verified.iat);
    let header = jsonwebtoken::decode_header(&token).expect("header");
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(header.kid, Some(store.active_kid()));
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).expect("payload"))
            .expect("base64url"),
    )
    .expect("JSON");
    assert_eq!(payload["role"], "CLINICIAN");
    assert!(payload["exp"].is_i64(), "numeric dates are seconds");
}

#[tokio::test]
async fn a_token_with_alg_none_is_rejected() {
    let (_db, _master, store) = loaded().await;
    let header = json!({"alg": "none", "typ": "JWT", "kid": store.active_kid()});
    let payload = serde_json::to_value(claims()).expect("claims");

    for token in [
        format!("{}.{}.", b64_json(&header), b64_json(&payload)),
        format!(
            "{}.{}.",
            b64_json(&json!({"alg": "None", "kid": store.active_kid()})),
            b64_json(&payload)
        ),
    ] {
        assert_eq!(rejection(&store, &token).await, Rejection::Algorithm);
    }
}

#[tokio::test]
async fn a_token_signed_hs256_with_the_public_key_as_secret_is_rejected() {
    let (db, _master, store) = loaded().await;
    let kid = store.active_kid();
    let public_der: Vec<u8> =
        sqlx::query_scalar("SELECT public_key_der FROM signing_keys WHERE kid = $1")
            .bind(&kid)
            .fetch_one(&db.owner_pool().await)
            .await
            .expect("public key");
    let n = store.jwks().keys[0].n.clone();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid);

    for secret in [public_der.as_slice(), n.as_bytes()] {
        let token = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(secret))
            .expect("HS256 token");
        assert_eq!(rejection(&store, &token).await, Rejection::Algorithm);
    }
}

#[tokio::test]
async fn a_genuinely_signed_token_with_an_unknown_or_missing_kid_is_rejected() {
    let (db, master, store) = loaded().await;
    let pkcs8 = private_key(&db, &master, &store.active_kid()).await;
    let payload = serde_json::to_value(claims()).expect("claims");

    let unknown = json!({"alg": "RS256", "typ": "JWT", "kid": "AAAAAAAAAAAAAAAAAAAAAA"});
    let odd = json!({"alg": "RS256", "typ": "JWT", "kid": "../../etc/passwd"});
    let missing = json!({"alg": "RS256", "typ": "JWT"});

    for (header, expected) in [
        (unknown, Rejection::UnknownKid),
        (odd, Rejection::UnknownKid),
        (missing, Rejection::MissingKid),
    ] {
        let token = sign_rs256(&pkcs8, &header, &payload);
        assert_eq!(rejection(&store, &token).await, expected, "{header}");
    }
}

#[tokio::test]
async fn a_token_whose_payload_was_modified_is_rejected() {
    let (_db, _master, store) = loaded().await;
    let token = store.issue(&claims()).expect("issues");
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url"))
            .expect("JSON");

    payload["role"] = json!("SUPER_ADMIN");
    let forged = format!("{}.{}.{}", parts[0], b64_json(&payload), parts[2]);

    assert_eq!(rejection(&store, &forged).await, Rejection::Signature);
}

#[tokio::test]
async fn a_token_expired_beyond_the_leeway_is_rejected() {
    let (_db, _master, store) = loaded().await;
    let token = store.issue(&claims_at(-960, -60)).expect("issues");

    assert_eq!(rejection(&store, &token).await, Rejection::Expired);
}

#[tokio::test]
async fn a_token_expired_within_the_leeway_is_accepted() {
    let (_db, _master, store) = loaded().await;
    let token = store.issue(&claims_at(-910, -10)).expect("issues");

    assert!(store.verify(&token).await.is_ok());
}

#[tokio::test]
async fn a_token_not_valid_before_a_time_beyond_the_leeway_is_rejected() {
    let (_db, _master, store) = loaded().await;
    let early = store.issue(&claims_at(60, 960)).expect("issues");
    let skewed = store.issue(&claims_at(10, 910)).expect("issues");

    assert_eq!(rejection(&store, &early).await, Rejection::NotYetValid);
    assert!(store.verify(&skewed).await.is_ok(), "within the leeway");
}

#[tokio::test]
async fn a_token_for_another_audience_is_rejected() {
    let (_db, _master, store) = loaded().await;
    let claims = AccessClaims {
        aud: "another-api".to_owned(),
        ..claims()
    };
    let token = store.issue(&claims).expect("issues");

    assert_eq!(rejection(&store, &token).await, Rejection::Audience);
}

#[tokio::test]
async fn a_token_from_another_issuer_is_rejected() {
    let (_db, _master, store) = loaded().await;
    let claims = AccessClaims {
        iss: "someone-else".to_owned(),
        ..claims()
    };
    let token = store.issue(&claims).expect("issues");

    assert_eq!(rejection(&store, &token).await, Rejection::Issuer);
}

#[tokio::test]
async fn a_genuinely_signed_token_missing_a_claim_is_rejected() {
    let (db, master, store) = loaded().await;
    let pkcs8 = private_key(&db, &master, &store.active_kid()).await;
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": store.active_kid()});
    let full = serde_json::to_value(claims()).expect("claims");

    for claim in ["iat", "nbf", "exp", "sub", "org", "role", "sid", "jti"] {
        let mut payload = full.clone();
        payload
            .as_object_mut()
            .expect("object")
            .remove(claim)
            .expect("present");
        let token = sign_rs256(&pkcs8, &header, &payload);
        assert!(store.verify(&token).await.is_err(), "without {claim}");
    }
    let mut critical = header.clone();
    critical["crit"] = json!(["exp"]);
    let token = sign_rs256(&pkcs8, &critical, &full);
    assert_eq!(rejection(&store, &token).await, Rejection::CriticalHeader);
}

#[tokio::test]
async fn garbage_is_rejected() {
    let (_db, _master, store) = loaded().await;
    let valid = store.issue(&claims()).expect("issues");
    let header = valid.split('.').next().expect("header");

    let long = "a".repeat(10_000);
    for token in [
        "",
        "garbage",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "....",
        long.as_str(),
        &format!("{}.{}.sig", b64_json(&json!("just a string")), "e30"),
    ] {
        assert_eq!(
            rejection(&store, token).await,
            Rejection::Malformed,
            "{token}"
        );
    }
    for token in [
        format!("{header}.!!!.AAAA"),
        format!("{header}.e30.AAAA"),
        format!("{header}.e30."),
        format!("{valid}x"),
    ] {
        assert!(store.verify(&token).await.is_err(), "{token}");
    }
}
