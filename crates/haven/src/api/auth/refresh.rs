//! `POST /api/auth/refresh`: a new token pair for a refresh token, which stops working.
//!
//! The token is consumed by one conditional statement ([`sessions::consume`]): of any number of
//! concurrent presentations exactly one gets a new pair. Every other presentation, concurrent or
//! later, means two parties hold the token: the whole family is revoked (the winner's new
//! tokens with it) and `REFRESH_TOKEN_REUSE` recorded. A family also dies after the idle timeout
//! and the absolute lifetime, and with its user's account. A refresh by cookie must carry the
//! session's current CSRF token in `X-CSRF-Token`; the answer carries the next one.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::session::{self, Delivery, SessionTokens};
use crate::app::AppState;
use crate::audit::{self, Actor, AuditAction, AuditEvent, Outcome, RequestMeta};
use crate::auth::cookies;
use crate::auth::dpop::{Mode, Proof, Rejection};
use crate::db::TenantTx;
use crate::http::dpop;
use crate::http::error::{AppError, ErrorCode};
use crate::http::json::AppJson;
use crate::http::meta::Meta;
use crate::store::sessions::{self, RevokeReason};
use crate::store::{organizations, users};

/// The refresh request. Cookie sessions send `{}` (or no body): the refresh token then comes
/// from the `haven_refresh` cookie.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh (`hvn_rt_...`). Without it, the cookie
    /// is used.
    #[schema(example = "hvn_rt_...")]
    refresh_token: Option<String>,
}

fn unauthenticated() -> AppError {
    AppError::new(
        ErrorCode::Unauthenticated,
        "Invalid or expired refresh token",
    )
}

/// Trade a refresh token for a new token pair
///
/// Send `{"refreshToken": "..."}`; cookie sessions send `{}` or no body, and the
/// `haven_refresh` cookie is used, and `X-CSRF-Token` must carry the `csrfToken` of the last
/// login or refresh (else 403 `CSRF_FAILED`). The answer has the shape of the login answer
/// without `user`, delivered the same way as the token came (body, or cookies with a new
/// `csrfToken`). The presented refresh token stops working; presenting it again, or presenting
/// it twice at once, revokes the whole session (`REFRESH_TOKEN_REUSE`, a security alert). A
/// session also ends after 30 idle minutes and 12 hours in all (configurable), and when its
/// account is disabled.
#[utoipa::path(
    post,
    path = "/refresh",
    tag = "auth",
    security(()),
    request_body(
        content = RefreshRequest,
        description = "The refresh token. Cookie sessions send `{}` (or no body at all): the `haven_refresh` cookie is used",
    ),
    responses(
        (status = 200, description = "A new token pair (in the body, or in cookies with a new `csrfToken`)", body = SessionTokens),
        (status = 400, description = "The body is not `{\"refreshToken\": \"...\"}` (`VALIDATION_ERROR`); or the `DPoP` proof lacks the server's nonce, given in `DPoP-Nonce` (`USE_DPOP_NONCE`)", body = crate::http::openapi::ErrorEnvelope),
        (status = 401, description = "No refresh token, or one that is unknown, expired, revoked or already used (`UNAUTHENTICATED`); or a DPoP-bound session without a valid proof of its key, or a bearer session of a practice that requires DPoP (`INVALID_DPOP_PROOF`; a proof by another key ends the session)", body = crate::http::openapi::ErrorEnvelope),
        (status = 403, description = "A refresh by cookie without the `csrfToken` of the last login or refresh in `X-CSRF-Token` (`CSRF_FAILED`)", body = crate::http::openapi::ErrorEnvelope),
    ),
)]
pub async fn refresh(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(HeaderMap, AppJson<SessionTokens>), AppError> {
    // The body is optional (cookie clients send none), so it is parsed here rather than by
    // the JSON extractor.
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<RefreshRequest>(&body)
            .map_err(|_| AppError::invalid_field("body", "must be {\"refreshToken\": \"...\"}"))?
            .refresh_token
    };
    let (token, delivery) = match from_body {
        Some(token) => (token, Delivery::Body),
        None => (
            cookies::get(&headers, cookies::REFRESH).ok_or_else(unauthenticated)?,
            Delivery::Cookie,
        ),
    };
    if !token.starts_with(session::REFRESH_PREFIX) || token.len() > 128 {
        return Err(unauthenticated());
    }
    let hash = session::hash_refresh_token(&token);
    let (org, token_id, family) = state
        .db()
        .pre_auth()
        .find_refresh_token(&hash)
        .await?
        .ok_or_else(unauthenticated)?;
    // A cookie is sent by the browser whoever asks: prove the page is Haven's before the token
    // is consumed, or a forged request could burn it (and the next genuine refresh would look
    // like reuse and end the session).
    if delivery == Delivery::Cookie
        && !state
            .csrf()
            .verify_current(family, token_id, cookies::presented_csrf(&headers))
    {
        return Err(AppError::new(
            ErrorCode::CsrfFailed,
            ErrorCode::CsrfFailed.default_message(),
        ));
    }

    // A proof is checked before the token is consumed: a missing nonce costs the client a retry,
    // not its session.
    let proof = if delivery == Delivery::Body {
        match dpop::at_token_endpoint(&state, &headers, "/api/auth/refresh").await {
            Ok(proof) => proof,
            Err(rejection) => {
                return Err(dpop::refuse(&state, org, None, Some(&meta), rejection).await);
            }
        }
    } else {
        None
    };

    let mut tx = state.db().begin_tenant(org, None).await?;
    let Some(consumed) = sessions::consume(&mut tx, token_id).await? else {
        // Somebody consumed this token first, now or earlier: two parties hold it.
        reuse(&mut tx, token_id, &meta).await?;
        tx.commit().await?;
        crate::api::auth::reread_revocations(&state).await;
        return Err(unauthenticated());
    };
    if consumed.revoked_at.is_some() {
        tx.commit().await?;
        return Err(unauthenticated());
    }
    let family = consumed.family_id;
    let user = users::find(&mut tx, consumed.user_id)
        .await?
        .ok_or_else(unauthenticated)?;
    let config = state.auth_config();
    let now = Utc::now();
    let ended = if user.disabled {
        Some(RevokeReason::Disabled)
    } else if now - consumed.last_used_at
        > chrono::Duration::from_std(config.session_idle_timeout).unwrap_or_default()
    {
        Some(RevokeReason::IdleTimeout)
    } else if now - consumed.family_created_at
        > chrono::Duration::from_std(config.session_max_lifetime).unwrap_or_default()
    {
        Some(RevokeReason::MaxLifetime)
    } else {
        None
    };
    if let Some(reason) = ended {
        sessions::revoke_family(&mut tx, family, reason).await?;
        tx.commit().await?;
        return Err(unauthenticated());
    }

    let jkt = match bind(&mut tx, delivery, &consumed, proof).await? {
        Binding::Keep(jkt) => jkt,
        Binding::Refuse(rejection) => {
            // Nothing consumed: the transaction is rolled back before the refusal is recorded.
            tx.rollback().await?;
            let actor = Some(Actor::new(user.id, user.role));
            return Err(dpop::refuse(&state, org, actor, Some(&meta), rejection).await);
        }
        Binding::OtherKey => {
            // Proven by another key than the session's: whoever holds this refresh token is not
            // the client that logged in. The session ends, as on refresh-token reuse.
            sessions::revoke_family(&mut tx, family, RevokeReason::DpopKeyMismatch).await?;
            audit::record(
                &mut tx,
                &AuditEvent::new(AuditAction::DpopProofRejected)
                    .with_outcome(Outcome::Denied)
                    .with_actor(user.id, user.role)
                    .with_entity("session", family)
                    .with_details(json!({
                        "reason": Rejection::KeyMismatch.as_str(),
                        "securitySignal": true,
                        "familyRevoked": true,
                    }))
                    .with_request(&meta),
            )
            .await?;
            tx.commit().await?;
            crate::telemetry::metrics::dpop_proof(Rejection::KeyMismatch.as_str());
            crate::api::auth::reread_revocations(&state).await;
            tracing::warn!(session = %family, "DPoP key mismatch on refresh: session revoked");
            return Err(dpop::answer(&state, Rejection::KeyMismatch));
        }
    };
    let (next, next_hash) = session::new_refresh_token();
    let next_id = sessions::rotate(&mut tx, family, &next_hash).await?;
    audit::record(
        &mut tx,
        &AuditEvent::new(AuditAction::TokenRefresh)
            .with_actor(user.id, user.role)
            .with_entity("session", family)
            .with_request(&meta),
    )
    .await?;
    let next = session::NewRefresh {
        token: next,
        id: next_id,
    };
    let tokens = session::issue(&state, user.id, org, user.role, family, next, jkt).await?;
    tx.commit().await?;
    let (headers, body) = session::deliver(&state, tokens, delivery);
    Ok((headers, AppJson(body)))
}

/// What DPoP decides for a refresh.
enum Binding {
    /// Go on; the new access token is bound to this key (or to none).
    Keep(Option<String>),
    /// Refuse, consuming nothing.
    Refuse(Rejection),
    /// A valid proof by another key than the session's.
    OtherKey,
}

/// A bound session refreshes only with a proof of its key; an unbound one only without a proof,
/// and not at all when its practice now requires DPoP. Cookie sessions are unchanged.
async fn bind(
    tx: &mut TenantTx,
    delivery: Delivery,
    consumed: &sessions::ConsumedToken,
    proof: Option<Proof>,
) -> Result<Binding, AppError> {
    if delivery == Delivery::Cookie {
        return Ok(Binding::Keep(None));
    }
    Ok(match (&consumed.dpop_jkt, proof) {
        (Some(bound), Some(proof)) if *bound == proof.jkt => Binding::Keep(Some(proof.jkt)),
        (Some(_), Some(_)) => Binding::OtherKey,
        (Some(_), None) => Binding::Refuse(Rejection::Missing),
        (None, Some(_)) => Binding::Refuse(Rejection::UnboundSession),
        (None, None) => match organizations::dpop_mode(tx).await? {
            Mode::Required => Binding::Refuse(Rejection::Required),
            Mode::Disabled | Mode::Optional => Binding::Keep(None),
        },
    })
}

/// A token that was already consumed came back: revoke its family and raise the alarm, once
/// (of concurrent replays, only the one that actually revokes records the event).
async fn reuse(tx: &mut TenantTx, token_id: Uuid, meta: &RequestMeta) -> Result<(), AppError> {
    let Some(presented) = sessions::presented_token(tx, token_id).await? else {
        return Ok(());
    };
    if presented.revoked_at.is_some() || presented.rotated_at.is_none() {
        return Ok(());
    }
    let family = presented.family_id;
    if !sessions::revoke_family(tx, family, RevokeReason::Reuse).await? {
        return Ok(());
    }
    let user = users::find(tx, presented.user_id).await?;
    let mut event = AuditEvent::new(AuditAction::RefreshTokenReuse)
        .with_outcome(Outcome::Denied)
        .with_entity("session", family)
        .with_details(json!({ "familyRevoked": true }))
        .with_request(meta);
    if let Some(user) = user {
        event = event.with_actor(user.id, user.role);
    }
    audit::record(tx, &event).await?;
    tracing::warn!(session = %family, "refresh token reuse: session revoked");
    Ok(())
}
