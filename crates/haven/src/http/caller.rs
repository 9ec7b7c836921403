//! The extractor of [`Caller`]: who is making this request, established once, from a verified
//! access token.
//!
//! Handlers take tenancy only from here (never from a path, query or body). The extractor
//! verifies the token (a bearer header, a DPoP-bound one with its proof, or the session cookie),
//! refuses it when its session or user was revoked (from the in-memory set of `auth::revocation`, not a query), checks the
//! CSRF token on unsafe cookie-authenticated requests, enforces the organization's MFA
//! requirement for admins, and records the caller in the request's span. It reads the database
//! only for admins (the MFA requirement) and for a platform operator acting inside a practice
//! (`X-Haven-Organization`, audited `SUPER_ADMIN_BYPASS`); everything else comes from the token.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{Method, header};

use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, AccessMethod, Actor, AuditAction, AuditEvent};
use crate::auth::caller::{AuthMethod, Caller};
use crate::auth::cookies;
use crate::auth::dpop::Rejection;
use crate::auth::revocation::Verdict;
use crate::auth::token::AccessClaims;
use crate::domain::Role;
use crate::http::dpop;
use crate::http::error::{AppError, ErrorCode};
use crate::http::meta::Meta;
use crate::ids::OrganizationId;

fn unauthenticated() -> AppError {
    AppError::new(
        ErrorCode::Unauthenticated,
        ErrorCode::Unauthenticated.default_message(),
    )
}

/// The token of the request: the `Authorization` header (`Bearer` or `DPoP`) first, then the
/// session cookie.
fn presented_token(parts: &Parts) -> Option<(String, AuthMethod)> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        if token.is_empty() {
            return None;
        }
        return if scheme.eq_ignore_ascii_case("bearer") {
            Some((token.to_owned(), AuthMethod::Bearer))
        } else if scheme.eq_ignore_ascii_case("dpop") {
            Some((token.to_owned(), AuthMethod::Dpop))
        } else {
            None
        };
    }
    cookies::get(&parts.headers, cookies::ACCESS).map(|token| (token, AuthMethod::Cookie))
}

/// The path the client addressed (nested routers see one without their prefix).
fn original_path(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.path(), |uri| uri.path())
}

/// DPoP at a resource (SPEC §5): a bound token only as `DPoP` with a proof of its key; a
/// `DPoP` authorization only with a bound token. A refusal is audited in the token's
/// organization.
async fn check_binding(
    state: &AppState,
    parts: &mut Parts,
    claims: &AccessClaims,
    token: &str,
    method: AuthMethod,
) -> Result<(), AppError> {
    let verdict = match (&claims.cnf, method) {
        (None, AuthMethod::Dpop) => Err(Rejection::UnboundToken),
        (None, _) => return Ok(()),
        (Some(_), AuthMethod::Bearer | AuthMethod::Cookie) => Err(Rejection::BoundTokenAsBearer),
        (Some(cnf), AuthMethod::Dpop) => {
            dpop::at_resource(
                state,
                &parts.headers,
                parts.method.as_str(),
                original_path(parts),
                token,
                &cnf.jkt,
            )
            .await
        }
    };
    let Err(rejection) = verdict else {
        return Ok(());
    };
    let Ok(Meta(meta)) = Meta::from_request_parts(parts, state).await;
    Err(dpop::refuse(
        state,
        claims.org,
        Some(Actor::new(claims.sub, claims.role)),
        Some(&meta),
        rejection,
    )
    .await)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The header with which a platform operator acts inside a practice.
pub const ACT_AS_HEADER: &str = "x-haven-organization";

fn acting_organization(parts: &Parts) -> Result<Option<OrganizationId>, AppError> {
    parts
        .headers
        .get(ACT_AS_HEADER)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| AppError::invalid_field(ACT_AS_HEADER, "must be an organization id"))
        })
        .transpose()
}

/// A platform operator acting inside organization `target`: allowed (SPEC §3), but recorded as
/// `SUPER_ADMIN_BYPASS` in that organization's trail before anything else happens. Anyone
/// else naming another organization is refused with 403 and the attempt audited.
async fn act_in(
    state: &AppState,
    parts: &Parts,
    mut caller: Caller,
    target: OrganizationId,
) -> Result<Caller, AppError> {
    // Anyone else naming another organization is refused, and the attempt audited in their
    // own organization's trail (`CROSS_TENANT_ACCESS_ATTEMPT`).
    if target != caller.organization_id {
        crate::policy::organizations::act_in(&caller, target)?;
    } else if caller.role != Role::SuperAdmin {
        // Their own organization: nothing to switch, nothing attempted.
        return Ok(caller);
    }
    let mut tx = state
        .db()
        .begin_tenant(target, Some(caller.user_id))
        .await?;
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1 AND NOT is_platform)",
    )
    .bind(target)
    .fetch_one(tx.conn())
    .await?;
    if !exists {
        return Err(AppError::not_found());
    }
    let route = parts
        .extensions
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let event = AuditEvent::new(AuditAction::SuperAdminBypass)
        .by(caller.actor())
        .with_access_method(AccessMethod::SuperAdminBypass)
        .with_details(json!({ "method": parts.method.as_str(), "route": route }));
    audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    caller.organization_id = target;
    tracing::Span::current().record("organizationId", tracing::field::display(target));
    Ok(caller)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let (token, auth_method) = presented_token(parts).ok_or_else(unauthenticated)?;
        let claims = state
            .keys()
            .verify(&token)
            .await
            .map_err(|_| unauthenticated())?;
        // Logged out, revoked or reused session, disabled account, changed role: refused here,
        // from memory (SPEC §5 "Revocation is immediate").
        match state.revocations().check(&claims) {
            Verdict::Valid => {}
            Verdict::Revoked => {
                tracing::debug!("access token refused: its session or user was revoked");
                return Err(unauthenticated());
            }
            Verdict::Unknown => {
                return Err(AppError::new(
                    ErrorCode::ServiceUnavailable,
                    "Sessions cannot be checked right now; please retry shortly",
                ));
            }
        }
        if auth_method == AuthMethod::Cookie && !is_safe(&parts.method) {
            let presented = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !state.csrf().verify(claims.sid, presented) {
                return Err(AppError::new(
                    ErrorCode::CsrfFailed,
                    ErrorCode::CsrfFailed.default_message(),
                ));
            }
        }
        check_binding(state, parts, &claims, &token, auth_method).await?;
        let caller = Caller {
            user_id: claims.sub,
            organization_id: claims.org,
            role: claims.role,
            session_id: claims.sid,
            auth_method,
        };
        let span = tracing::Span::current();
        span.record("userId", tracing::field::display(caller.user_id));
        span.record(
            "organizationId",
            tracing::field::display(caller.organization_id),
        );

        // Admins of an organization that requires MFA may only reach the auth routes (to enrol)
        // until they have it.
        let on_auth_route = original_path(parts).starts_with("/api/auth/");
        if crate::policy::users::held_to_mfa(caller.role) && !on_auth_route {
            mfa_gate(state, &caller).await?;
        }
        if let Some(target) = acting_organization(parts)? {
            return act_in(state, parts, caller, target).await;
        }
        Ok(caller)
    }
}

/// The MFA gate for an administrator: refused while their organization requires MFA they lack.
/// A pass is reused for up to a second (`auth::mfa_gate`); a refusal is asked again each time.
async fn mfa_gate(state: &AppState, caller: &Caller) -> Result<(), AppError> {
    let gate = state.mfa_gate();
    let now = std::time::Instant::now();
    if gate.passed_recently(caller.organization_id, caller.user_id, now) {
        return Ok(());
    }
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(caller.user_id))
        .await?;
    let blocked = crate::store::users::held_back_by_mfa(&mut tx, caller.user_id).await?;
    tx.commit().await?;
    if blocked {
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "Your organization requires MFA: enrol at /api/auth/mfa/setup first",
        ));
    }
    // Stamped with the time before the read: the pass never outlives what was read.
    gate.record_pass(caller.organization_id, caller.user_id, now);
    Ok(())
}
