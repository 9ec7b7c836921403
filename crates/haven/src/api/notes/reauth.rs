//! Re-authentication at signing ("the password is the signature"): the signer's password,
//! verified on the bounded hashing pool, or — once MFA is enrolled — a current TOTP (or backup)
//! code. Each attempt is counted against the account's login lock *before* it is checked
//! (exactly as a login attempt, in its own committed transaction), so failures here count
//! toward the lock, and a locked account cannot sign. A failure is audited `NOTE_SIGN_FAILED`
//! and answers 401 `INVALID_CREDENTIALS`; a success gives its attempt back.

use secrecy::SecretString;
use serde_json::json;

use crate::api::auth::mfa_check::{MfaCheck, check_second_factor};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditEvent, Outcome, RequestMeta};
use crate::auth::caller::Caller;
use crate::http::error::{AppError, ErrorCode};
use crate::ids::{NoteId, PatientId};
use crate::store::users;

/// How the signer proved it was them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    /// Their password.
    Password,
    /// A TOTP or backup code.
    Mfa,
}

impl Method {
    /// The stored name.
    pub(super) const fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Mfa => "mfa",
        }
    }
}

/// What the signer presented.
#[derive(Debug)]
pub(super) enum Proof {
    /// A password.
    Password(SecretString),
    /// A second-factor code.
    Code(String),
}

/// The proof in a request body: exactly one of `password` and `mfaCode`.
pub(super) fn proof(
    password: Option<SecretString>,
    mfa_code: Option<String>,
) -> Result<Proof, AppError> {
    use secrecy::ExposeSecret;
    match (password, mfa_code) {
        (Some(password), None) if password.expose_secret().chars().count() <= 1024 => {
            Ok(Proof::Password(password))
        }
        (Some(_), None) => Err(AppError::invalid_field("password", "is too long")),
        (None, Some(code)) if code.len() <= 32 => Ok(Proof::Code(code)),
        (None, Some(_)) => Err(AppError::invalid_field("mfaCode", "is too long")),
        _ => Err(AppError::invalid_field(
            "password",
            "give exactly one of password and mfaCode to sign",
        )),
    }
}

/// What the signature is about, for the audit trail.
#[derive(Debug, Clone, Copy)]
pub(super) struct Subject {
    /// The note.
    pub(super) note: NoteId,
    /// Its patient.
    pub(super) patient: PatientId,
    /// The operation (`sign_note`, `cosign_note`, `add_addendum`).
    pub(super) operation: &'static str,
}

fn failed() -> AppError {
    AppError::new(
        ErrorCode::InvalidCredentials,
        "The password or code is not correct",
    )
}

async fn record_failure(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    subject: Subject,
    reason: &'static str,
) -> Result<(), AppError> {
    audit::record_alone(
        state.db(),
        caller.organization_id,
        &AuditEvent::new(AuditAction::NoteSignFailed)
            .by(caller.actor())
            .with_outcome(Outcome::Denied)
            .with_entity("note", subject.note)
            .with_patient(subject.patient)
            .with_details(json!({ "reason": reason, "operation": subject.operation }))
            .with_request(meta),
    )
    .await?;
    Ok(())
}

/// Checks `proof` for the caller; their method, or the 401 (audited, counted).
pub(super) async fn reauthenticate(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    subject: Subject,
    proof: Proof,
) -> Result<Method, AppError> {
    let user = caller.user_id;
    let mut tx = state
        .db()
        .begin_tenant(caller.organization_id, Some(user))
        .await?;
    let Some(credentials) = users::credentials_for_update(&mut tx, user).await? else {
        return Err(failed());
    };
    if matches!(proof, Proof::Code(_)) && !credentials.mfa_enabled {
        return Err(AppError::invalid_field(
            "mfaCode",
            "MFA is not enrolled on this account; sign with your password",
        ));
    }
    let attempt = users::reserve_login_attempt(&mut tx, user).await?;
    tx.commit().await?;
    let Some(_) = attempt else {
        record_failure(state, caller, meta, subject, "locked").await?;
        return Err(failed());
    };
    let method = match proof {
        Proof::Password(password) => {
            let verification = state
                .hasher()
                .verify(password, credentials.password_hash)
                .await;
            if !verification.matches || credentials.disabled {
                record_failure(state, caller, meta, subject, "wrong_password").await?;
                return Err(failed());
            }
            let mut tx = state
                .db()
                .begin_tenant(caller.organization_id, Some(user))
                .await?;
            users::release_login_attempt(&mut tx, user).await?;
            tx.commit().await?;
            Method::Password
        }
        Proof::Code(code) => {
            let mut tx = state
                .db()
                .begin_tenant(caller.organization_id, Some(user))
                .await?;
            let credentials = users::credentials_for_update(&mut tx, user)
                .await?
                .ok_or_else(failed)?;
            match check_second_factor(state, &mut tx, user, &credentials, Some(&code)).await? {
                MfaCheck::Passed => {
                    users::release_login_attempt(&mut tx, user).await?;
                    tx.commit().await?;
                }
                MfaCheck::Missing | MfaCheck::Wrong => {
                    tx.rollback().await?;
                    record_failure(state, caller, meta, subject, "wrong_mfa_code").await?;
                    return Err(failed());
                }
            }
            Method::Mfa
        }
    };
    Ok(method)
}
