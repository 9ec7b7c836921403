//! A DPoP client for the tests: keys (ES256, EdDSA) generated per test, proofs built and signed
//! with jsonwebtoken, and requests that carry them. Headers and claims can be bent to make each
//! kind of bad proof.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use axum::body::Body;
use axum::http::{Method, Request, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use haven_testkit::{PASSWORD, TestApp, TestResponse};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The public URL of a test app (`HAVEN_PUBLIC_URL` defaults to `http://` + `HAVEN_BIND`).
pub(crate) const BASE: &str = "http://127.0.0.1:8080";

/// A client's key pair.
pub(crate) struct DpopKey {
    pub(crate) alg: Algorithm,
    pub(crate) encoding: EncodingKey,
    pub(crate) jwk: Value,
}

impl DpopKey {
    /// A new P-256 key (ES256).
    pub(crate) fn es256() -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("P-256 key");
        Self::from(Algorithm::ES256, EncodingKey::from_ec_der(pkcs8.as_ref()))
    }

    /// A new Ed25519 key (EdDSA).
    pub(crate) fn ed25519() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).expect("Ed25519 key");
        Self::from(Algorithm::EdDSA, EncodingKey::from_ed_der(pkcs8.as_ref()))
    }

    fn from(alg: Algorithm, encoding: EncodingKey) -> Self {
        let jwk = Jwk::from_encoding_key(&encoding, alg).expect("public JWK");
        let mut jwk = serde_json::to_value(jwk).expect("JWK as JSON");
        // Only the key's own members: no `alg`/`use`/`kid` hints.
        if let Some(object) = jwk.as_object_mut() {
            object.retain(|k, _| matches!(k.as_str(), "kty" | "crv" | "x" | "y"));
        }
        Self { alg, encoding, jwk }
    }

    /// The RFC 7638 thumbprint the server binds tokens to.
    pub(crate) fn jkt(&self) -> String {
        let jwk: Jwk = serde_json::from_value(self.jwk.clone()).expect("JWK");
        jwk.thumbprint(ThumbprintHash::SHA256).expect("thumbprint")
    }

    /// The proof's usual header.
    pub(crate) fn header(&self) -> Value {
        let alg = if self.alg == Algorithm::ES256 {
            "ES256"
        } else {
            "EdDSA"
        };
        json!({ "typ": "dpop+jwt", "alg": alg, "jwk": self.jwk })
    }

    /// A proof for `method` on `path` (at [`BASE`]), now, with a fresh `jti`, `extra` claims
    /// merged in (a `null` removes one).
    pub(crate) fn proof(&self, method: &str, path: &str, extra: Value) -> String {
        self.proof_with(self.header(), claims(method, path, extra))
    }

    /// A proof with exactly this header and these claims, signed with this key.
    pub(crate) fn proof_with(&self, header: Value, claims: Value) -> String {
        let signing_input = format!("{}.{}", part(&header), part(&claims));
        let signature =
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &self.encoding, self.alg)
                .expect("signing");
        format!("{signing_input}.{signature}")
    }
}

/// base64url of a JSON value.
pub(crate) fn part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON"))
}

/// The usual claims of a proof, with `extra` merged in (a `null` value removes a claim).
pub(crate) fn claims(method: &str, path: &str, extra: Value) -> Value {
    let mut claims = json!({
        "jti": uuid::Uuid::new_v4().to_string(),
        "htm": method,
        "htu": format!("{BASE}{path}"),
        "iat": chrono::Utc::now().timestamp(),
    });
    if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            if v.is_null() {
                claims.remove(k);
            } else {
                claims.insert(k.clone(), v.clone());
            }
        }
    }
    claims
}

/// The `ath` of an access token.
pub(crate) fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// `method path` with `Authorization: <scheme> <token>`, optional `DPoP` proofs and JSON body.
pub(crate) async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    authorization: Option<(&str, &str)>,
    proofs: &[&str],
    body: Option<&Value>,
) -> TestResponse {
    let mut request = Request::builder().method(method).uri(path);
    if let Some((scheme, token)) = authorization {
        request = request.header(header::AUTHORIZATION, format!("{scheme} {token}"));
    }
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(body).expect("JSON"))),
        None => request.body(Body::empty()),
    };
    app.send(request.expect("request")).await
}

/// A nonce, as login hands them out (asked with a proof that has none).
pub(crate) async fn nonce(app: &TestApp, key: &DpopKey, email: &str) -> String {
    let first = login(app, key, email, None).await;
    assert_eq!(first.error_code(), "USE_DPOP_NONCE");
    first.header("dpop-nonce").expect("DPoP-Nonce").to_owned()
}

/// `POST /api/auth/login` as `email` with a proof by `key` carrying `nonce`.
pub(crate) async fn login(
    app: &TestApp,
    key: &DpopKey,
    email: &str,
    nonce: Option<&str>,
) -> TestResponse {
    let extra = nonce.map_or_else(|| json!({}), |n| json!({ "nonce": n }));
    let proof = key.proof("POST", "/api/auth/login", extra);
    call(
        app,
        Method::POST,
        "/api/auth/login",
        None,
        &[&proof],
        Some(&json!({ "email": email, "password": PASSWORD })),
    )
    .await
}

/// A DPoP session of `email` bound to `key`: (access token, refresh token).
pub(crate) async fn bound_session(app: &TestApp, key: &DpopKey, email: &str) -> (String, String) {
    let nonce = nonce(app, key, email).await;
    let answer = login(app, key, email, Some(&nonce)).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let body = answer.json();
    assert_eq!(body["tokenType"], "DPoP");
    (
        body["token"].as_str().expect("token").to_owned(),
        body["refreshToken"].as_str().expect("refresh").to_owned(),
    )
}

/// `GET path` with a bound token and a proof by `key` for it.
pub(crate) async fn get_bound(
    app: &TestApp,
    key: &DpopKey,
    token: &str,
    path: &str,
) -> TestResponse {
    let proof = key.proof("GET", path, json!({ "ath": ath(token) }));
    call(
        app,
        Method::GET,
        path,
        Some(("DPoP", token)),
        &[&proof],
        None,
    )
    .await
}

/// The claims of an access token (not verified: the server did that).
pub(crate) fn token_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

/// The reasons of the `DPOP_PROOF_REJECTED` rows of `organization`, in order.
pub(crate) async fn rejections(
    app: &TestApp,
    organization: haven::ids::OrganizationId,
) -> Vec<String> {
    app.audit_events(organization)
        .await
        .into_iter()
        .filter(|(action, _, _)| action == "DPOP_PROOF_REJECTED")
        .map(|(_, _, details)| details["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}
