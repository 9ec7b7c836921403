//! The OpenAPI 3.1 document (SPEC §4), generated from the code.
//!
//! Every route is registered through `utoipa_axum::routes!`, which takes its path and method
//! from the handler's `#[utoipa::path]` attribute, so a route and its documentation cannot
//! drift apart. The handler attributes state what is particular to them (request body, success
//! body, the specific error statuses such as 409 or 422); [`complete`] then adds what every
//! operation shares, so no operation can forget it:
//!
//! - authentication: an operation is secured (bearer token or session cookie) unless its
//!   attribute says `security(())`; secured operations answer 401 and 403 (role, CSRF, MFA);
//! - 400 wherever there are parameters or a body, 404 wherever the path names a resource, and
//!   both on every secured operation (a platform operator's `X-Haven-Organization` header may be
//!   malformed or name no practice); 413/415 wherever there is a body, 429 under `/api/auth/`,
//!   and 500/503 everywhere;
//! - all error responses share one schema, the envelope [`ErrorEnvelope`].

use std::collections::BTreeMap;

use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, OpenApi as Document, Ref, RefOr, Required, Response, ResponseBuilder,
    SecurityRequirement,
};
use utoipa::{OpenApi, ToSchema};

use crate::auth::cookies;

/// The error envelope of SPEC §4, as documented. (The middleware renders it; see
/// [`super::error`].)
#[derive(Debug, ToSchema)]
#[schema(as = ErrorEnvelope)]
#[expect(
    dead_code,
    reason = "documents the envelope; `super::error` renders it"
)]
pub struct ErrorEnvelope {
    /// Always `false`.
    success: bool,
    /// The code, e.g. `VALIDATION_ERROR`, `NOT_FOUND`, `INSUFFICIENT_UNITS`.
    #[schema(example = "VALIDATION_ERROR")]
    error: String,
    /// A human-readable explanation; never PHI, SQL or a stack trace.
    message: String,
    /// For validation errors: field → what is wrong with it.
    details: Option<BTreeMap<String, String>>,
    /// On 5xx answers: the request id to quote to an operator.
    #[schema(rename = "requestId")]
    request_id: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Haven",
        description = "The PHI-safe backend for therapy and behavioral-health practices. \
            Every request is scoped to the caller's organization; every PHI access is audited.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorEnvelope, crate::api::pagination::Pagination)),
    tags(
        (name = "operations", description = "Liveness, readiness, signing keys, this document"),
        (name = "auth", description = "Login, tokens, sessions, MFA"),
        (name = "organizations", description = "Practices (platform operators only)"),
        (name = "users", description = "A practice's staff accounts"),
        (name = "patients", description = "Patients (PHI encrypted per field) and care teams"),
        (name = "authorizations", description = "Insurance authorizations and their units"),
        (name = "sessions", description = "Therapy sessions that reserve and consume units"),
        (name = "btg", description = "Break-the-glass emergency access"),
        (name = "audit", description = "The tamper-evident audit log"),
        (name = "maintenance", description = "Operator tasks"),
        (name = "settings", description = "The practice's settings"),
        (name = "availability", description = "Clinicians' weekly availability and time off"),
        (name = "appointments", description = "Appointments that may reserve units"),
        (name = "waitlist", description = "Patients waiting for a slot, and offers that hold one"),
        (name = "notes", description = "Clinical notes: signed, locked, amended by addenda, co-signed"),
        (name = "security", description = "Security incidents and breach detection rules"),
        (name = "realtime", description = "Realtime notifications: tickets and the WebSocket"),
        (name = "charges", description = "Charges of completed sessions, computed holds, the fee schedule"),
    ),
)]
struct Base;

/// The security scheme names used in the document.
pub const BEARER: &str = "bearerAuth";
/// The cookie session's scheme name.
pub const COOKIE: &str = "sessionCookie";

/// The finished document: the base (info, tags, shared schemas, security schemes) merged with
/// the routes' paths, then [`complete`]d.
#[must_use]
pub fn document(paths: Document) -> Document {
    let mut doc = Base::openapi();
    doc.merge(paths);
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "An access token from POST /api/auth/login (RS256, 15 minutes)",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        COOKIE,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            cookies::ACCESS,
            "The session cookie set by a cookie login; unsafe methods also need X-CSRF-Token",
        ))),
    );
    complete(&mut doc);
    doc
}

/// Adds the shared parts to every operation (see the module docs).
pub fn complete(doc: &mut Document) {
    for (path, item) in &mut doc.paths.paths {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            complete_operation(path, operation);
        }
    }
}

fn complete_operation(path: &str, operation: &mut Operation) {
    let secured = operation.security.is_none();
    if secured {
        operation.security = Some(vec![
            SecurityRequirement::new(BEARER, Vec::<String>::new()),
            SecurityRequirement::new(COOKIE, Vec::<String>::new()),
        ]);
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::T(acting_organization()));
    }
    let has_body = operation.request_body.is_some();
    let has_params = operation
        .parameters
        .as_ref()
        .is_some_and(|params| !params.is_empty());
    let mut add = |status: &str, description: &str, applies: bool| {
        if applies {
            operation
                .responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| error_response(description));
        }
    };
    // Secured operations also answer 400 for a malformed `X-Haven-Organization` (the header a
    // platform operator sends to act in a practice) and 404 for an unknown one.
    add(
        "400",
        "Invalid input (`VALIDATION_ERROR`, `details` names the fields)",
        has_body || has_params || secured,
    );
    add("401", "No valid credentials (`UNAUTHENTICATED`)", secured);
    add(
        "403",
        "The caller's role may not do this (`FORBIDDEN`), a cookie request without its CSRF \
         token (`CSRF_FAILED`), or an administrator without MFA",
        secured,
    );
    add(
        "404",
        "No such resource in the caller's organization (`NOT_FOUND`)",
        path.contains('{') || secured,
    );
    add(
        "413",
        "The body exceeds 64 KiB (`PAYLOAD_TOO_LARGE`)",
        has_body,
    );
    add(
        "415",
        "The body is not JSON (`UNSUPPORTED_MEDIA_TYPE`)",
        has_body,
    );
    add(
        "429",
        "Too many requests from this client (`RATE_LIMITED`, see `Retry-After`)",
        path.starts_with("/api/auth/"),
    );
    add(
        "500",
        "A bug or an outage (`INTERNAL`, the body carries `requestId`)",
        true,
    );
    add(
        "503",
        "The database is unreachable or the request took too long (`SERVICE_UNAVAILABLE`)",
        true,
    );
}

/// The optional header with which a platform operator acts inside a practice.
fn acting_organization() -> Parameter {
    ParameterBuilder::new()
        .name("X-Haven-Organization") // `http::caller::ACT_AS_HEADER`, in its canonical case
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "SUPER_ADMIN only: act inside this practice (audited `SUPER_ADMIN_BYPASS` first). \
             Anyone else sending it gets 403; a malformed id 400, an unknown practice 404.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        ))
        .build()
}

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                    .build(),
            )
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_document_names_the_envelope_and_both_security_schemes() {
        let doc = document(Document::default());
        let components = doc.components.expect("components");
        assert!(components.schemas.contains_key("ErrorEnvelope"));
        assert!(components.security_schemes.contains_key(BEARER));
        assert!(components.security_schemes.contains_key(COOKIE));
    }
}
