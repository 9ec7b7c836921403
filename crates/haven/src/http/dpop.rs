//! DPoP at the HTTP edge (SPEC §5): reading the `DPoP` header, checking proofs at the token
//! endpoints (login, refresh: a server nonce required) and at resources (`ath` required, no
//! nonce), refusing replays, and answering refusals. A refusal says only `INVALID_DPOP_PROOF`
//! (or `USE_DPOP_NONCE` with a fresh `DPoP-Nonce`); its precise reason goes to the
//! `DPOP_PROOF_REJECTED` audit row and to `haven_dpop_proofs_total{outcome}`.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use chrono::Utc;
use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, Actor, AuditAction, AuditEvent, Outcome, RequestMeta};
use crate::auth::dpop::{self, Expected, Proof, Rejection, replay};
use crate::http::error::{AppError, ErrorCode};
use crate::ids::OrganizationId;
use crate::telemetry::metrics;

/// The `DPoP` header's value: `None` when absent; two of them are refused.
///
/// # Errors
/// [`Rejection::Multiple`] for more than one header, [`Rejection::Malformed`] for a value that
/// is not text.
pub fn proof_header(headers: &HeaderMap) -> Result<Option<&str>, Rejection> {
    let mut values = headers.get_all(dpop::HEADER).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::Multiple);
    }
    first.to_str().map(Some).map_err(|_| Rejection::Malformed)
}

/// A `DPoP-Nonce` header with the current nonce: sent with every login and refresh answer, so
/// the client always holds a fresh one.
#[must_use]
pub fn nonce_header(state: &AppState) -> (HeaderName, HeaderValue) {
    let nonce = state.dpop_nonces().current(Utc::now().timestamp());
    (
        HeaderName::from_static(dpop::NONCE_HEADER),
        HeaderValue::from_str(&nonce).expect("base64url is a valid header value"),
    )
}

/// Checks the proof of a login or refresh (`POST` to `path`), if the request carries one: a
/// valid proof with one of our nonces, used once.
///
/// # Errors
/// The [`Rejection`] of the first check that fails.
pub async fn at_token_endpoint(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<Proof>, Rejection> {
    let Some(proof) = proof_header(headers)? else {
        return Ok(None);
    };
    let now = Utc::now().timestamp();
    let url = dpop::request_url(&state.auth_config().public_url, path);
    let proof = dpop::check(
        state.dpop_keys(),
        proof,
        &Expected {
            method: "POST",
            url: &url,
            access_token: None,
            now,
        },
    )?;
    match proof.nonce.as_deref() {
        None => return Err(Rejection::NonceMissing),
        Some(nonce) if !state.dpop_nonces().accepts(nonce, now) => {
            return Err(Rejection::NonceInvalid);
        }
        Some(_) => {}
    }
    if !replay::first_use(state.limiter(), state.dpop_seen(), &proof.jkt, &proof.jti).await {
        return Err(Rejection::Replay);
    }
    metrics::dpop_proof("accepted");
    Ok(Some(proof))
}

/// Checks the proof of a request to a resource with a token bound to key `jkt`: `method` and
/// the request's `path` at the public URL, `ath` of `token`, the same key, used once.
///
/// # Errors
/// The [`Rejection`] of the first check that fails.
pub async fn at_resource(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    token: &str,
    jkt: &str,
) -> Result<(), Rejection> {
    let proof = proof_header(headers)?.ok_or(Rejection::Missing)?;
    let url = dpop::request_url(&state.auth_config().public_url, path);
    let proof = dpop::check(
        state.dpop_keys(),
        proof,
        &Expected {
            method,
            url: &url,
            access_token: Some(token),
            now: Utc::now().timestamp(),
        },
    )?;
    if proof.jkt != jkt {
        return Err(Rejection::KeyMismatch);
    }
    if !replay::first_use(state.limiter(), state.dpop_seen(), &proof.jkt, &proof.jti).await {
        return Err(Rejection::Replay);
    }
    metrics::dpop_proof("accepted");
    Ok(())
}

/// Records a refusal (audit row in `organization`'s trail, the metric) and answers it.
///
/// # Errors
/// Only when the audit row cannot be written (then the request fails closed with that error).
pub async fn refuse(
    state: &AppState,
    organization: OrganizationId,
    actor: Option<Actor>,
    meta: Option<&RequestMeta>,
    rejection: Rejection,
) -> AppError {
    metrics::dpop_proof(rejection.as_str());
    let mut event = AuditEvent::new(AuditAction::DpopProofRejected)
        .with_outcome(Outcome::Denied)
        .with_details(json!({
            "reason": rejection.as_str(),
            "securitySignal": rejection.is_attack_signal(),
        }));
    if let Some(actor) = actor {
        event = event.by(actor);
    }
    if let Some(meta) = meta {
        event = event.with_request(meta);
    }
    if let Err(error) = audit::record_alone(state.db(), organization, &event).await {
        return error.into();
    }
    answer(state, rejection)
}

/// The answer to a refusal: `USE_DPOP_NONCE` (400, with a fresh `DPoP-Nonce`) when only the
/// nonce was wrong, else `INVALID_DPOP_PROOF` (401); both with `WWW-Authenticate: DPoP`.
#[must_use]
pub fn answer(state: &AppState, rejection: Rejection) -> AppError {
    if rejection.wants_nonce() {
        let (name, value) = nonce_header(state);
        AppError::new(
            ErrorCode::UseDpopNonce,
            ErrorCode::UseDpopNonce.default_message(),
        )
        .with_header(name, value)
    } else {
        AppError::new(
            ErrorCode::InvalidDpopProof,
            ErrorCode::InvalidDpopProof.default_message(),
        )
    }
}
